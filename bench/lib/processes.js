// Starting and stopping the bench's child processes: each server under test runs in its own
// process so that /proc accounts its CPU and memory separately from the load generator.
import { execFileSync, fork, spawn } from 'node:child_process';
import { connect, createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

const SERVERS_DIR = fileURLToPath(new URL('../servers/', import.meta.url));
const STDERR_TAIL_BYTES = 4000;
const READY_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 15_000;

/** A running child: `pids` are what /proc is read for (a process and, for nginx, its workers). */
class Child {
  constructor(name, proc, port) {
    this.name = name;
    this.proc = proc;
    this.port = port;
    this.stderr = '';
    this.hasExited = false;
    this.exited = new Promise((resolve) =>
      proc.once('exit', (code, signal) => {
        this.hasExited = true;
        resolve({ code, signal });
      }),
    );
    proc.stderr?.on('data', (chunk) => {
      this.stderr = (this.stderr + chunk).slice(-STDERR_TAIL_BYTES);
    });
  }

  get pid() {
    return this.proc.pid;
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  /** SIGTERM, wait for a graceful exit (the gateway flushes its audit trail), SIGKILL if it hangs. */
  async stop() {
    if (this.hasExited) return this.exited;
    this.proc.kill('SIGTERM');
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), STOP_TIMEOUT_MS);
    const result = await this.exited;
    clearTimeout(timer);
    return result;
  }
}

/** Forks one of bench/servers/*.js and waits for it to announce its port. */
export async function startServer(name, script, args = []) {
  // execArgv: [] so flags given to the bench itself (e.g. --cpu-prof) do not leak into the servers.
  const proc = fork(`${SERVERS_DIR}${script}`, args, { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], execArgv: [] });
  const child = new Child(name, proc, undefined);
  const ready = new Promise((resolve, reject) => {
    proc.once('message', (message) => resolve(message.port));
    proc.once('exit', (code) => reject(new Error(`${name} exited (${code}) before it was ready: ${child.stderr.trim()}`)));
  });
  child.port = await withTimeout(ready, READY_TIMEOUT_MS, `${name} did not start`);
  proc.channel?.unref();
  return child;
}

/**
 * Starts `node bin/btg-gateway.js serve --config <file>` (node flags first, e.g. --cpu-prof) and
 * waits until its admin /readyz answers 200. Rejects with the gateway's stderr if it exits first.
 */
export async function startGateway(name, { binPath, configPath, port, adminPort, nodeFlags = [] }) {
  const proc = spawn(process.execPath, [...nodeFlags, binPath, 'serve', '--config', configPath], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const child = new Child(name, proc, port);
  const exited = child.exited.then(({ code, signal }) => {
    throw new Error(`${name} exited (${code ?? signal}) before it was ready:\n${child.stderr.trim()}`);
  });
  // The CLI reports a fatal start-up error as "btg-gateway: …" on stderr; the process may linger
  // after that (an open store connection), so the message itself counts as failure.
  const reported = new Promise((_, reject) => {
    proc.stderr.on('data', () => {
      if (/^btg-gateway: /m.test(child.stderr)) reject(new Error(`${name} failed to start:\n${child.stderr.trim()}`));
    });
  });
  const failed = Promise.race([exited, reported]);
  const ready = waitForHttp200(`http://127.0.0.1:${adminPort}/readyz`, () => child.hasExited);
  try {
    await withTimeout(Promise.race([ready, failed]), READY_TIMEOUT_MS, `${name} did not become ready`);
  } catch (err) {
    await child.stop();
    throw err;
  }
  failed.catch(() => undefined);
  return child;
}

/** Starts nginx in the foreground with the given config file, when an nginx binary exists. */
export async function startNginx(name, { binary, prefix, configPath, port }) {
  const proc = spawn(binary, ['-p', prefix, '-c', configPath, '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] });
  const child = new Child(name, proc, port);
  const failed = child.exited.then(({ code }) => {
    throw new Error(`nginx exited (${code}) before it was ready:\n${child.stderr.trim()}`);
  });
  await withTimeout(Promise.race([waitForTcp(port), failed]), READY_TIMEOUT_MS, 'nginx did not start');
  failed.catch(() => undefined);
  return child;
}

/** The path of `name` on PATH, or undefined. */
export function findBinary(name) {
  try {
    return execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** A port that was free a moment ago (the gateway and nginx need theirs in their config file). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Can a TCP connection be opened to host:port within a second? */
export function canConnect(port, host = '127.0.0.1') {
  return new Promise((resolve) => {
    const socket = connect({ port, host });
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

async function waitForHttp200(url, gaveUp) {
  while (!gaveUp()) {
    const ok = await fetch(url).then(
      (res) => res.status === 200,
      () => false,
    );
    if (ok) return;
    await sleep(100);
  }
}

async function waitForTcp(port) {
  while (!(await canConnect(port))) await sleep(100);
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function withTimeout(promise, ms, message) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${message} within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
