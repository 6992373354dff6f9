import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { send } from '../support/http-client.js';
import { RecordingUpstream } from '../support/recording-upstream.js';

/** These run the built CLI (`npm test` builds first), exactly as an operator would. */
const BIN = join(import.meta.dirname, '../../bin/btg-gateway.js');

function cli(args: string[], env: Record<string, string> = {}): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function tempConfig(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'btg-cli-'));
  const file = join(dir, 'gateway.yaml');
  writeFileSync(file, text);
  return file;
}

describe('btg-gateway CLI', () => {
  it('check-config accepts the example config (exit 0)', () => {
    const result = cli(['check-config', '--config', join(import.meta.dirname, '../../gateway.example.yaml')]);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('ok');
  });

  it('check-config lists every problem with its key path (exit 2)', () => {
    const file = tempConfig('upstream:\n  timeoutMs: soon\n  colour: blue\ncallerAuth:\n  type: jwt\n');
    const result = cli(['check-config', '--config', file]);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('upstream.timeoutMs: expected number');
    expect(result.stderr).toContain('upstream.colour: unknown key');
    expect(result.stderr).toContain('callerAuth.jwt: required when callerAuth.type is jwt');
  });

  it('check-config on a missing file or without --config is a usage error (exit 2)', () => {
    expect(cli(['check-config', '--config', '/nonexistent/gateway.yaml']).status).toBe(2);
    expect(cli(['check-config']).status).toBe(2);
    expect(cli(['no-such-command']).status).toBe(2);
  });

  it('--help and --version exit 0', () => {
    expect(cli(['--help']).stdout).toContain('serve');
    expect(cli(['--version']).status).toBe(0);
    expect(cli(['serve', '--help']).stdout).toContain('--config');
  });

  it('serve runs until SIGTERM and then exits 0', async () => {
    const upstream = await new RecordingUpstream().start();
    const file = tempConfig(
      [
        'server: {host: 127.0.0.1, port: 0}',
        'admin: {host: 127.0.0.1, port: 0}',
        `upstream: {url: "${upstream.url}"}`,
        'callerAuth: {type: jwt, jwt: {jwksUrl: "http://127.0.0.1:9/jwks"}}',
        `audit: {sinks: [{type: file, path: "${join(tmpdir(), `btg-cli-audit-${process.pid}.jsonl`)}"}]}`,
      ].join('\n'),
    );
    const child = spawn(process.execPath, [BIN, 'serve', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const port = await new Promise<number>((resolve, reject) => {
      child.stderr.on('data', () => {
        const match = stderr.match(/"main":"127\.0\.0\.1:(\d+)"/);
        if (match) resolve(Number(match[1]));
      });
      child.on('exit', () => reject(new Error(`serve exited early: ${stderr}`)));
    });
    const res = await send(`http://127.0.0.1:${port}/patients/p1`);
    expect(res.status).toBe(200);
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    await upstream.stop();
  });
});
