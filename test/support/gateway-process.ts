import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';

/** The built CLI (`npm test` builds first), run exactly as an operator would. */
export const BIN = join(import.meta.dirname, '../../bin/btg-gateway.js');

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs one CLI command to completion without blocking the test's event loop (servers keep serving). */
export function runCli(args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { encoding: 'utf8' }, (err, stdout, stderr) => {
      const status = err ? (typeof err.code === 'number' ? err.code : null) : 0;
      resolve({ status, stdout, stderr });
    });
  });
}

/** A `btg-gateway serve` child process, listening. */
export interface GatewayProcess {
  child: ChildProcess;
  url: string;
  adminUrl: string;
  port: number;
  /** Everything the process wrote to stderr (its JSON log) so far. */
  stderr(): string;
  /** Sends the signal and resolves once the process is gone. */
  stop(signal: NodeJS.Signals): Promise<void>;
}

const LISTENING = /"main":"127\.0\.0\.1:(\d+)","admin":"127\.0\.0\.1:(\d+)"/;

/**
 * Starts `serve --config <file>`, with `env` added to this process's environment, and resolves once
 * its `btg-gateway listening` log line names the ports.
 */
export async function spawnGateway(configFile: string, env: Record<string, string> = {}): Promise<GatewayProcess> {
  const child = spawnServe(configFile, env);
  let stderr = '';
  const [main, admin] = await new Promise<[number, number]>((resolve, reject) => {
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      const match = LISTENING.exec(stderr);
      if (match) resolve([Number(match[1]), Number(match[2])]);
    });
    child.once('exit', () => reject(new Error(`serve exited before listening: ${stderr}`)));
  });
  const exited = once(child, 'exit');
  return {
    child,
    url: `http://127.0.0.1:${main}`,
    adminUrl: `http://127.0.0.1:${admin}`,
    port: main,
    stderr: () => stderr,
    stop: async (signal) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

export interface StartFailure {
  /** Resolves once the process has exited, with its exit code and log. */
  exit: Promise<{ status: number | null; stderr: string }>;
  /** For clean-up when it did not exit after all. */
  kill(): void;
}

/** Runs `serve` expecting it to fail at start-up. */
export function serveUntilExit(configFile: string, env: Record<string, string> = {}): StartFailure {
  const child = spawnServe(configFile, env);
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return {
    exit: new Promise((resolve) => child.once('exit', (status) => resolve({ status, stderr }))),
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}

function spawnServe(configFile: string, env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, [BIN, 'serve', '--config', configFile], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
}
