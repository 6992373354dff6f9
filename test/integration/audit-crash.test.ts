import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditRecord } from '../../src/audit/record.js';
import { generateKeyFile } from '../../src/btg/signing-keys.js';
import { createDemoIdentityProvider } from '../../src/demo/demo-identity.js';
import { runCli, spawnGateway, type GatewayProcess } from '../support/gateway-process.js';
import { send } from '../support/http-client.js';
import { RecordingUpstream } from '../support/recording-upstream.js';

/**
 * SPEC 6 "no audit, no access" across a crash: a gateway process SIGKILLed under concurrent BTG load
 * must have made every forwarded request's `access` record durable, and a restarted process must
 * continue the same chain (torn tails trimmed) so `audit verify` stays green.
 */

const CONCURRENCY = 50;
/** Upstream requests to see before the kill: enough that many group-commit batches ran. */
const KILL_AFTER = 300;
const PATIENT_PATH = '/patients/p1/records';

let dir: string;
let auditFile: string;
let configFile: string;
let upstream: RecordingUpstream;
let caller: string;
let btgToken: string;
let gateway: GatewayProcess | undefined;
/** Called by upstream on each request it receives; the test decides when to crash. */
let onUpstreamRequest: (count: number) => void = () => undefined;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'btg-crash-'));
  auditFile = join(dir, 'audit.jsonl');
  const idp = await createDemoIdentityProvider();
  await idp.writeJwksFile(join(dir, 'jwks.json'));
  await generateKeyFile('EdDSA', join(dir, 'btg-key.json'));
  caller = await idp.mint({ sub: 'dr.who', team: 'team-a', user_type: 'CLINICIAN' });
  let count = 0;
  upstream = await new RecordingUpstream()
    .on(PATIENT_PATH, (_req, res) => {
      onUpstreamRequest(++count);
      // Answer a little later, so many requests are between upstream and the client at any moment.
      setTimeout(() => res.writeHead(200, { 'content-type': 'text/plain' }).end('record'), 5);
    })
    .start();
  configFile = join(dir, 'gateway.yaml');
  // JSON is YAML.
  writeFileSync(
    configFile,
    JSON.stringify({
      server: { host: '127.0.0.1', port: 0 },
      admin: { host: '127.0.0.1', port: 0 },
      upstream: { url: upstream.url },
      callerAuth: { type: 'jwt', jwt: { jwksFile: join(dir, 'jwks.json'), issuer: idp.issuer, audience: idp.audience } },
      btg: { signing: { alg: 'EdDSA', keyFile: join(dir, 'btg-key.json') } },
      audit: { sinks: [{ type: 'file', path: auditFile }], instance: 'crash-test' },
    }),
  );
});

afterAll(async () => {
  await gateway?.stop('SIGKILL');
  await upstream.stop();
  rmSync(dir, { recursive: true, force: true });
});

function btgGet(target: string, requestId: string): ReturnType<typeof send> {
  return send(`${gateway!.url}${target}`, {
    headers: { authorization: `Bearer ${caller}`, breaktheglass: btgToken, 'x-request-id': requestId },
  });
}

/** Whole lines only: a crash may have left an unterminated fragment at the end. */
function completeRecords(): AuditRecord[] {
  const text = readFileSync(auditFile, 'utf8');
  return text
    .slice(0, text.lastIndexOf('\n') + 1)
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as AuditRecord);
}

const maxSeq = (): number => Math.max(...completeRecords().map((r) => r.seq));

/** One BTG request after a restart: it must carry on the chain exactly where the file left off. */
async function expectChainContinues(requestId: string): Promise<void> {
  const before = maxSeq();
  const res = await btgGet(PATIENT_PATH, requestId);
  expect(res.status).toBe(200);
  await expect.poll(() => completeRecords().filter((r) => r.request?.id === requestId).map((r) => [r.event, r.seq])).toEqual([
    ['access', before + 1],
    ['response', before + 2],
  ]);
  expect((await runCli(['audit', 'verify', auditFile])).status).toBe(0);
}

describe('a gateway SIGKILLed under concurrent BTG load', () => {
  it('had an access record on disk for every request upstream received, and restarts on an intact chain', async () => {
    gateway = await spawnGateway(configFile);
    const grant = await send(`${gateway.url}/btg`, {
      method: 'POST',
      headers: { authorization: `Bearer ${caller}`, 'content-type': 'application/json' },
      body: JSON.stringify({ userId: 'dr.jones', pkbId: 'p1', reason: 'crash test' }),
    });
    expect(grant.status).toBe(200);
    btgToken = grant.json<{ token: string }>().token;

    const crashed = gateway;
    onUpstreamRequest = (count) => {
      if (count === KILL_AFTER) crashed.child.kill('SIGKILL');
    };
    let next = 0;
    const statuses: number[] = [];
    let cut = 0;
    // Each worker keeps one request in flight until the gateway is gone.
    const worker = async (): Promise<void> => {
      for (;;) {
        const res = await btgGet(PATIENT_PATH, `crash-${next++}`).catch(() => undefined);
        if (!res) return void (cut += 1);
        statuses.push(res.status);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    await crashed.stop('SIGKILL');
    expect(crashed.child.signalCode).toBe('SIGKILL');
    // The kill really landed mid-load: requests were answered before it and cut by it.
    expect(statuses.length).toBeGreaterThan(0);
    expect(new Set(statuses)).toEqual(new Set([200]));
    expect(cut).toBe(CONCURRENCY);

    const forwarded = upstream.received.map((r) => r.headers['x-request-id']).filter((id) => typeof id === 'string' && id.startsWith('crash-'));
    expect(forwarded.length).toBeGreaterThanOrEqual(KILL_AFTER);
    const accessed = new Set(completeRecords().filter((r) => r.event === 'access').map((r) => r.request!.id));
    expect(forwarded.filter((id) => !accessed.has(id as string))).toEqual([]);

    gateway = await spawnGateway(configFile);
    expect(await runCli(['audit', 'verify', auditFile])).toMatchObject({ status: 0 });
    await expectChainContinues('after-crash');
  });

  it('trims a torn last line on restart and continues the chain', async () => {
    await gateway!.stop('SIGKILL');
    const torn = '{"id":"torn-record","seq":';
    appendFileSync(auditFile, torn);
    gateway = await spawnGateway(configFile);
    const text = readFileSync(auditFile, 'utf8');
    expect(text).not.toContain('torn-record');
    expect(text.endsWith('\n')).toBe(true);
    expect(await runCli(['audit', 'verify', auditFile])).toMatchObject({ status: 0 });
    await expectChainContinues('after-torn-line');
  });
});
