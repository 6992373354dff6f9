import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AuditRecord } from '../../src/audit/record.js';
import { ADMIN_TOKEN, startTestGateway, type RunningGateway } from '../support/gateway-harness.js';
import { runCli } from '../support/gateway-process.js';
import { send, type ClientResponse } from '../support/http-client.js';
import { RecordingUpstream } from '../support/recording-upstream.js';

/**
 * SPEC 6 "no audit, no access" when the file sink fails mid-run. Tests may run as root, for whom
 * permissions stop nothing, so the outage is made the way it happens to operators: the audit
 * directory disappears (a volume unmounted and something else in its place, or `rm -rf`).
 */

let upstream: RecordingUpstream;
let gw: RunningGateway;
let caller: string;
let btgToken: string;
let auditDir: string;
let auditFile: string;

beforeAll(async () => {
  upstream = await new RecordingUpstream().start();
  auditDir = join(mkdtempSync(join(tmpdir(), 'btg-outage-')), 'audit');
  auditFile = join(auditDir, 'audit.jsonl');
  gw = await startTestGateway(upstream.url, { audit: { sinks: [{ type: 'file', path: auditFile }] } });
  caller = await gw.callerToken();
  const granted = await grant('p1');
  expect(granted.status).toBe(200);
  btgToken = granted.json<{ token: string }>().token;
});

beforeEach(() => {
  upstream.received.length = 0;
});

afterAll(async () => {
  await gw.stop();
  await upstream.stop();
  rmSync(dirname(auditDir), { recursive: true, force: true });
});

function grant(pkbId: string): Promise<ClientResponse> {
  return send(`${gw.url}/btg`, {
    method: 'POST',
    headers: { authorization: `Bearer ${caller}`, 'content-type': 'application/json' },
    body: JSON.stringify({ userId: 'dr.jones', pkbId, reason: 'outage test' }),
  });
}

function btgGet(requestId: string): Promise<ClientResponse> {
  return send(`${gw.url}/patients/p1/records`, { headers: { authorization: `Bearer ${caller}`, breaktheglass: btgToken, 'x-request-id': requestId } });
}

const readyz = (): Promise<ClientResponse> => send(`${gw.adminUrl}/readyz`);

function records(file = auditFile): AuditRecord[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line) as AuditRecord);
}

function expectAuditUnavailable(res: ClientResponse): void {
  expect(res.status).toBe(503);
  expect(res.json()).toEqual({ error: 'audit_unavailable', message: expect.any(String), requestId: res.headers['x-request-id'] });
}

/** What upstream received for one request id. */
const forwarded = (requestId: string): number => upstream.received.filter((r) => r.headers['x-request-id'] === requestId).length;

describe('the audit directory replaced by a file mid-run', () => {
  const away = (): string => `${auditDir}.away`;

  it('refuses BTG requests and grants with 503 audit_unavailable and forwards nothing', async () => {
    expect((await btgGet('before-outage')).status).toBe(200);
    expect((await readyz()).status).toBe(200);
    upstream.received.length = 0;

    renameSync(auditDir, away());
    writeFileSync(auditDir, 'not a directory\n');

    // The first refusal is the open file failing its check; later ones are the reopen failing.
    for (const id of ['outage-1', 'outage-2', 'outage-3']) {
      expectAuditUnavailable(await btgGet(id));
      expect(forwarded(id)).toBe(0);
    }
    expect(upstream.received).toEqual([]);

    const refusedGrant = await grant('p-outage');
    expectAuditUnavailable(refusedGrant);
    expect(refusedGrant.headers.breaktheglass).toBeUndefined();
    expect(refusedGrant.text).not.toMatch(/token/i);
  });

  it('reports not ready on the admin listener, naming the audit sink', async () => {
    const res = await readyz();
    expect(res.status).toBe(503);
    expect(res.json()).toMatchObject({ status: 'not_ready', checks: { audit: expect.stringMatching(/^file: /), store: 'ok' } });
    const metrics = (await send(`${gw.adminUrl}/metrics`)).text;
    expect(metrics).toMatch(/^btg_audit_failures_total\{sink="file"\} [1-9]/m);
    expect(metrics).toMatch(/^btg_requests_total\{outcome="audit_unavailable"\} 3$/m);
  });

  it('still forwards ordinary (non-BTG) requests', async () => {
    const res = await send(`${gw.url}/patients/p1/records`, { headers: { 'x-request-id': 'plain-during-outage' } });
    expect(res.status).toBe(200);
    expect(forwarded('plain-during-outage')).toBe(1);
  });

  it('recovers when the directory is back: ready, BTG works, the chain verifies without the refused records', async () => {
    rmSync(auditDir);
    renameSync(away(), auditDir);

    await expect.poll(async () => (await readyz()).status).toBe(200);
    const res = await btgGet('after-outage');
    expect(res.status).toBe(200);
    expect(forwarded('after-outage')).toBe(1);
    await expect.poll(() => records().filter((r) => r.request?.id === 'after-outage').map((r) => r.event)).toEqual(['access', 'response']);

    const ids = new Set(records().map((r) => r.request?.id));
    for (const refused of ['outage-1', 'outage-2', 'outage-3']) expect(ids.has(refused)).toBe(false);
    expect(records().some((r) => r.event === 'grant' && r.pkbId === 'p-outage' && r.outcome === 'success')).toBe(false);
    const active = await send(`${gw.adminUrl}/grants`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(active.json<Array<{ pkbId: string }>>().map((g) => g.pkbId)).toEqual(['p1']);

    expect(await runCli(['audit', 'verify', auditFile])).toMatchObject({ status: 0 });
  });
});

describe('the audit directory deleted mid-run', () => {
  it('refuses the request whose batch it broke, then starts a new file on the same chain, so verify reports the deleted history', async () => {
    const responses = await auditedCount('response');
    expect((await btgGet('before-delete')).status).toBe(200);
    // Acknowledged, not merely visible in the file: a batch is acknowledged only after its fsync and checks.
    await expect.poll(() => auditedCount('response')).toBe(responses + 1);
    const last = records().at(-1)!;
    upstream.received.length = 0;

    rmSync(auditDir, { recursive: true });
    expectAuditUnavailable(await btgGet('deleted-1'));
    expect(forwarded('deleted-1')).toBe(0);

    // The sink recreates its directory and file, and the chain carries on from the last acknowledged record...
    expect((await btgGet('deleted-2')).status).toBe(200);
    expect(records()[0]).toMatchObject({ event: 'access', request: { id: 'deleted-2' }, seq: last.seq + 1, prevHash: last.hash });
    // ...so the deleted history is reported, never papered over by a fresh chain.
    const verified = await runCli(['audit', 'verify', auditFile]);
    expect(verified.status).toBe(1);
    expect(verified.stdout).toMatch(/^FAILED at seq 1: missing:/);
  });
});

/** btg_audit_records_total{event}: records acknowledged durable in every sink. */
async function auditedCount(event: string): Promise<number> {
  const text = (await send(`${gw.adminUrl}/metrics`)).text;
  return Number(new RegExp(`^btg_audit_records_total\\{event="${event}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0);
}

/**
 * A full disk passes every permission check, so readiness must notice the failed writes themselves.
 * Needs a small filesystem to fill: a tmpfs, which needs root (CI here runs as root).
 */
describe('the audit disk full mid-run', () => {
  let mountPoint: string;
  let mounted = false;

  beforeAll(() => {
    mountPoint = mkdtempSync(join(tmpdir(), 'btg-full-'));
    mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=512k', 'tmpfs', mountPoint]).status === 0;
    if (!mounted) console.warn('\n*** SKIPPED the disk-full audit test: mounting a tmpfs needs root ***\n');
  });

  afterAll(() => {
    if (mounted) spawnSync('umount', [mountPoint]);
    rmSync(mountPoint, { recursive: true, force: true });
  });

  it('refuses BTG with 503 and reports not ready until space is freed, then recovers', async (context) => {
    if (!mounted) return context.skip();
    const full = await startTestGateway(upstream.url, { audit: { sinks: [{ type: 'file', path: join(mountPoint, 'audit.jsonl') }] } });
    try {
      const token = await full.callerToken();
      const issued = await send(`${full.url}/btg?userId=u1&pkbId=p1`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
      const headers = { authorization: `Bearer ${token}`, breaktheglass: issued.json<{ token: string }>().token };
      expect((await send(`${full.url}/patients/p1`, { headers })).status).toBe(200);
      const filler = join(mountPoint, 'filler');
      spawnSync('dd', ['if=/dev/zero', `of=${filler}`, 'bs=4k', 'count=1024']);

      // Appends may still fit in the last page the file already owns; the next ones cannot.
      let refused: ClientResponse | undefined;
      for (let i = 0; i < 20 && !refused; i++) {
        const id = `disk-full-${i}`;
        const res = await send(`${full.url}/patients/p1`, { headers: { ...headers, 'x-request-id': id } });
        if (res.status !== 200) {
          refused = res;
          expect(forwarded(id)).toBe(0);
        }
      }
      expectAuditUnavailable(refused!);
      const notReady = await send(`${full.adminUrl}/readyz`);
      expect(notReady.status).toBe(503);
      expect(notReady.json()).toMatchObject({ checks: { audit: expect.stringMatching(/^file: .*(ENOSPC|no space)/i) } });

      rmSync(filler);
      expect((await send(`${full.adminUrl}/readyz`)).status).toBe(200);
      expect((await send(`${full.url}/patients/p1`, { headers })).status).toBe(200);
      expect((await runCli(['audit', 'verify', join(mountPoint, 'audit.jsonl')])).status).toBe(0);
    } finally {
      await full.stop();
    }
  });
});
