import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AuditTrail } from '../../src/audit/audit-trail.js';
import { FileAuditSink } from '../../src/audit/file-sink.js';
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

  it('check-config also fails what start-up would: unreadable keys, route rules that do not compile (exit 2)', () => {
    const base = 'callerAuth:\n  jwt:\n    jwksUrl: http://127.0.0.1:9/jwks\n';
    const badKey = cli(['check-config', '--config', tempConfig(`${base}btg:\n  signing: {alg: EdDSA, keyFile: /nonexistent/key.jwk}\n`)]);
    expect(badKey.status).toBe(2);
    expect(badKey.stderr).toContain('btg.signing.keyFile');
    const badRoute = cli(['check-config', '--config', tempConfig(`${base}btg:\n  routes: [{path: "/p/{pkbId}/{pkbId}"}]\n`)]);
    expect(badRoute.status).toBe(2);
    expect(badRoute.stderr).toContain('btg.routes');
    expect(cli(['check-config', '--config', tempConfig(base)]).stdout).toContain('note: no btg.signing key is configured');
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

describe('btg-gateway keys generate', () => {
  it('writes a private JWK readable by the owner only, prints the public one, and refuses to overwrite', () => {
    const out = join(mkdtempSync(join(tmpdir(), 'btg-keys-')), 'signing.jwk');
    const result = cli(['keys', 'generate', '--alg', 'ES256', '--out', out]);
    expect(result.status).toBe(0);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    const privateJwk = JSON.parse(readFileSync(out, 'utf8')) as Record<string, string>;
    expect(privateJwk).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', d: expect.any(String) });
    expect(result.stdout).toContain(privateJwk.kid!);
    expect(result.stdout).not.toContain(privateJwk.d!);
    expect(cli(['keys', 'generate', '--out', out]).status).toBe(2);
    expect(cli(['keys', 'generate', '--out', out, '--force']).status).toBe(0);
  });
});

describe('btg-gateway audit verify / export', () => {
  async function writeTrail(): Promise<string> {
    const file = join(mkdtempSync(join(tmpdir(), 'btg-trail-')), 'audit.jsonl');
    const trail = new AuditTrail([new FileAuditSink({ path: file, instance: 'cli-test', maxBytes: 4096 })], { instance: 'cli-test' });
    await trail.open();
    for (let i = 0; i < 40; i++) {
      await trail.write({ event: i % 2 ? 'access' : 'grant', outcome: 'success', teamId: 't', userId: 'u', pkbId: `p${i % 3}`, tokenId: `j${i}`, request: { id: `r${i}`, method: 'GET', path: '/patients/p1', query: '', clientIp: '127.0.0.1' } });
    }
    await trail.close();
    return file;
  }

  it('passes an intact rotated trail and names the first bad seq of a tampered one', async () => {
    const file = await writeTrail();
    const ok = cli(['audit', 'verify', file]);
    expect(ok.status).toBe(0);
    expect(ok.stdout).toMatch(/^ok: 40 records in [2-9] file\(s\)/);
    const lines = readFileSync(file, 'utf8').split('\n');
    const victim = lines.findIndex((line) => line.includes('"event":"access"'));
    const seq = (JSON.parse(lines[victim]!) as { seq: number }).seq;
    lines[victim] = lines[victim]!.replace('"userId":"u"', '"userId":"someone-else"');
    writeFileSync(file, lines.join('\n'));
    const bad = cli(['audit', 'verify', file]);
    expect(bad.status).toBe(1);
    expect(bad.stdout).toContain(`FAILED at seq ${seq}: edited`);
  });

  it('exports FHIR AuditEvents as NDJSON', async () => {
    const file = await writeTrail();
    const result = cli(['audit', 'export', '--format', 'fhir', file]);
    expect(result.status).toBe(0);
    const events = result.stdout.trim().split('\n').map((line) => JSON.parse(line) as { resourceType: string });
    expect(events).toHaveLength(40);
    expect(new Set(events.map((e) => e.resourceType))).toEqual(new Set(['AuditEvent']));
    expect(cli(['audit', 'export', '--format', 'csv', file]).status).toBe(2);
    expect(cli(['audit', 'verify', '/nonexistent/audit.jsonl']).status).toBe(2);
  });
});
