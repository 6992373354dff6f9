import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyFile } from '../../src/btg/signing-keys.js';
import { createDemoIdentityProvider, type DemoIdentityProvider } from '../../src/demo/demo-identity.js';
import { send } from '../support/http-client.js';
import { RecordingUpstream } from '../support/recording-upstream.js';

/** SIGHUP against the built CLI, under load: nothing in flight may fail, a bad file changes nothing. */
const BIN = join(import.meta.dirname, '../../bin/btg-gateway.js');

let dir: string;
let upstream: RecordingUpstream;
let idp: DemoIdentityProvider;
let child: ChildProcess;
let stderr = '';
let base = '';
let configFile: string;

function writeConfig(extraRoutes: string[], extra = ''): void {
  writeFileSync(
    configFile,
    [
      'server: {host: 127.0.0.1, port: 0}',
      'admin: {host: 127.0.0.1, port: 0}',
      `upstream: {url: "${upstream.url}"}`,
      `callerAuth: {type: jwt, jwt: {jwksFile: "${join(dir, 'jwks.json')}", issuer: "${idp.issuer}", audience: "${idp.audience}"}}`,
      'btg:',
      `  signing: {alg: EdDSA, keyFile: "${join(dir, 'signing.jwk')}"}`,
      '  routes:',
      '    - path: /patients/{pkbId}/**',
      ...extraRoutes.map((route) => `    - path: ${route}`),
      `audit: {sinks: [{type: file, path: "${join(dir, 'audit.jsonl')}"}], instance: reload-test}`,
      'logging: {level: info}',
      extra,
    ].join('\n'),
  );
}

/** Resolves when a log line matching `pattern` appears after `from` characters of stderr. */
function logged(pattern: RegExp, from: number): Promise<string> {
  return new Promise((resolve) => {
    const check = (): void => {
      const match = stderr.slice(from).split('\n').find((line) => pattern.test(line));
      if (match) {
        child.stderr!.off('data', check);
        resolve(match);
      }
    };
    child.stderr!.on('data', check);
    check();
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'btg-reload-'));
  configFile = join(dir, 'gateway.yaml');
  upstream = await new RecordingUpstream().start();
  idp = await createDemoIdentityProvider();
  await idp.writeJwksFile(join(dir, 'jwks.json'));
  await generateKeyFile('EdDSA', join(dir, 'signing.jwk'));
  writeConfig([]);
  child = spawn(process.execPath, [BIN, 'serve', '--config', configFile], { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  const line = await logged(/btg-gateway listening/, 0);
  base = `http://127.0.0.1:${/"main":"127\.0\.0\.1:(\d+)"/.exec(line)![1]}`;
});

afterAll(async () => {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
  await upstream.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('SIGHUP reload', () => {
  it('applies a good file and rejects a bad one, without failing a single request under load', async () => {
    const caller = await idp.mint({ sub: 'dr.load', team: 'team-a', user_type: 'CLINICIAN' });
    const issued = (await send(`${base}/btg?userId=dr.load&pkbId=p1`, { method: 'POST', headers: { authorization: `Bearer ${caller}` } })).json();
    const headers = { authorization: `Bearer ${caller}`, breaktheglass: issued.token as string };
    expect((await send(`${base}/extra/p1`, { headers })).status).toBe(403);

    let running = true;
    const failures: string[] = [];
    let completed = 0;
    const worker = async (): Promise<void> => {
      while (running) {
        const res = await send(`${base}/patients/p1/records`, { headers }).catch((err: Error) => ({ status: 0, text: err.message }));
        if (res.status !== 200) failures.push(`${res.status} ${res.text}`);
        completed += 1;
      }
    };
    const load = Promise.all(Array.from({ length: 8 }, worker));
    await expect.poll(() => completed).toBeGreaterThan(20);

    writeConfig(['/extra/{pkbId}']);
    let mark = stderr.length;
    child.kill('SIGHUP');
    await logged(/configuration reloaded/, mark);
    expect((await send(`${base}/extra/p1`, { headers })).status).toBe(200);

    writeConfig(['/extra/{pkbId}'], 'surprise: true\nnotify: {webhook: {url: not-a-url}}');
    mark = stderr.length;
    child.kill('SIGHUP');
    const rejected = await logged(/configuration reload rejected/, mark);
    expect(rejected).toContain('surprise: unknown key');
    expect(rejected).toContain('notify.webhook.url');
    const afterBad = completed;
    await expect.poll(() => completed).toBeGreaterThan(afterBad + 20);
    running = false;
    await load;

    expect(failures).toEqual([]);
    expect((await send(`${base}/extra/p1`, { headers })).status).toBe(200);
  });
});
