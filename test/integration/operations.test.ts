import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/config/load.js';
import { auditRecords } from '../support/audit-file.js';
import { ADMIN_TOKEN, merge, startTestGateway, type RunningGateway } from '../support/gateway-harness.js';
import { send, type ClientResponse } from '../support/http-client.js';
import { RecordingUpstream } from '../support/recording-upstream.js';

let upstream: RecordingUpstream;
let gw: RunningGateway;

const PATIENT = 'p-secret-4711';
const USER = 'dr.secret-user';
const TEAM = 'team-secret';

async function grant(pkbId: string, token: string, userId = USER): Promise<ClientResponse> {
  return send(`${gw.url}/btg`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ userId, pkbId }),
  });
}

/** Parses the Prometheus text format into `name{labels}` → value. */
async function scrape(): Promise<Map<string, number>> {
  const text = (await send(`${gw.adminUrl}/metrics`)).text;
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    values.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return values;
}

beforeAll(async () => {
  upstream = await new RecordingUpstream().on('/patients/unknown', (_req, res) => res.writeHead(404).end()).start();
  gw = await startTestGateway(upstream.url);
});

afterAll(async () => {
  await gw.stop();
  await upstream.stop();
});

describe('metrics', () => {
  it('count grants, BTG outcomes and audit records exactly, with no identifying label values', async () => {
    const before = await scrape();
    const caller = await gw.callerToken({ team: TEAM, sub: 'caller-secret' });
    const first = (await grant(PATIENT, caller)).json();
    const second = (await grant('p-other-1', caller, 'dr.second')).json();
    expect((await grant('unknown', caller)).status).toBe(404);
    expect((await grant(PATIENT, await gw.callerToken({ user_type: 'PATIENT' }))).status).toBe(401);
    const use = (target: string, token = first.token as string) =>
      send(`${gw.url}${target}`, { headers: { authorization: `Bearer ${caller}`, breaktheglass: token } });
    for (let i = 0; i < 3; i++) expect((await use(`/patients/${PATIENT}/records`)).status).toBe(200);
    expect((await use('/patients/p-other-1')).status).toBe(403);
    expect((await use(`/patients/${PATIENT}`, 'x.y.z')).status).toBe(401);
    const revoked = await send(`${gw.url}/btg`, { method: 'DELETE', headers: { authorization: `Bearer ${caller}`, breaktheglass: second.token as string } });
    expect(revoked.status).toBe(204);
    // The response record is written after the client has its answer.
    await expect.poll(() => auditRecords(gw.dir).filter((r) => r.event === 'response').length).toBeGreaterThanOrEqual(3);

    const after = await scrape();
    const delta = (series: string) => (after.get(series) ?? 0) - (before.get(series) ?? 0);
    expect(delta('btg_grants_total{outcome="success"}')).toBe(2);
    expect(delta('btg_grants_total{outcome="patient_not_found"}')).toBe(1);
    expect(delta('btg_grants_total{outcome="unauthorized"}')).toBe(1);
    expect(delta('btg_requests_total{outcome="success"}')).toBe(3);
    expect(delta('btg_requests_total{outcome="patient_mismatch"}')).toBe(1);
    expect(delta('btg_requests_total{outcome="invalid_token"}')).toBe(1);
    expect(delta('btg_audit_records_total{event="grant"}')).toBe(4);
    expect(delta('btg_audit_records_total{event="access"}')).toBe(3);
    expect(delta('btg_audit_records_total{event="response"}')).toBe(3);
    expect(delta('btg_audit_records_total{event="denied"}')).toBe(2);
    expect(delta('btg_audit_records_total{event="revoke"}')).toBe(1);
    expect(after.get('btg_active_grants')).toBe(1);
    expect(after.get('btg_audit_failures_total{sink="file"}')).toBe(0);
    expect(delta('btg_upstream_request_duration_seconds_count{method="GET",status_class="2xx"}')).toBeGreaterThanOrEqual(3);

    const text = [...after.keys()].join('\n');
    for (const secret of [PATIENT, 'p-other-1', USER, TEAM, 'caller-secret', first.tokenId as string, first.token as string]) {
      expect(text).not.toContain(secret);
    }
  });
});

describe('readiness and health', () => {
  it('answers /healthz and /readyz with what was checked', async () => {
    expect((await send(`${gw.adminUrl}/healthz`)).json()).toEqual({ status: 'ok' });
    const ready = await send(`${gw.adminUrl}/readyz`);
    expect(ready.status).toBe(200);
    expect(ready.json()).toEqual({ status: 'ready', checks: { audit: 'ok', store: 'ok' } });
  });
});

describe('audit API', () => {
  const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };

  it("returns a patient's BTG history newest first, and audits the read", async () => {
    const caller = await gw.callerToken();
    const issued = (await grant('p-history', caller, 'dr.history')).json();
    await send(`${gw.url}/patients/p-history/records`, { headers: { authorization: `Bearer ${caller}`, breaktheglass: issued.token as string } });
    // The response record lands after the client has its answer; wait until the history shows it.
    const history = async () => {
      const res = await send(`${gw.adminUrl}/audit?pkbId=p-history&limit=10`, { headers: { ...admin, 'x-audit-reader': 'privacy.officer' } });
      expect(res.status).toBe(200);
      return res.json<Array<{ event: string; seq: number }>>().filter((r) => r.event !== 'audit_read');
    };
    await expect.poll(async () => (await history()).length).toBe(3);
    const events = await history();
    expect(events.map((r) => r.event)).toEqual(['response', 'access', 'grant']);
    expect(events.map((r) => r.seq)).toEqual([...events.map((r) => r.seq)].sort((a, b) => b - a));
    expect(auditRecords(gw.dir).at(-1)).toMatchObject({ event: 'audit_read', userId: 'privacy.officer', pkbId: 'p-history' });
    const again = await send(`${gw.adminUrl}/audit?pkbId=p-history&limit=1`, { headers: admin });
    expect(again.json<Array<{ event: string }>>().map((r) => r.event)).toEqual(['audit_read']);
  });

  it('needs the admin token and well-formed parameters', async () => {
    expect((await send(`${gw.adminUrl}/audit?pkbId=p1`)).status).toBe(401);
    expect((await send(`${gw.adminUrl}/audit?pkbId=p1`, { headers: { authorization: 'Bearer wrong-token-of-some-length' } })).status).toBe(401);
    expect((await send(`${gw.adminUrl}/audit`, { headers: admin })).status).toBe(400);
    expect((await send(`${gw.adminUrl}/audit?pkbId=p1&since=yesterday`, { headers: admin })).status).toBe(400);
    expect((await send(`${gw.adminUrl}/audit?pkbId=p1&limit=0`, { headers: admin })).status).toBe(400);
    expect((await send(`${gw.adminUrl}/grants`)).status).toBe(401);
  });

  it('lists active grants', async () => {
    const caller = await gw.callerToken();
    const issued = (await grant('p-listed', caller, 'dr.list')).json();
    const res = await send(`${gw.adminUrl}/grants`, { headers: admin });
    expect(res.json<Array<Record<string, unknown>>>()).toContainEqual(
      expect.objectContaining({ tokenId: issued.tokenId, pkbId: 'p-listed', userId: 'dr.list', teamId: 'team-a', expiresAt: issued.expiresAt }),
    );
  });
});

describe('reload', () => {
  it('swaps routes and enabled teams; in-flight rules stay with their request', async () => {
    const caller = await gw.callerToken();
    const issued = (await grant('p-reload', caller, 'dr.reload')).json();
    const fhir = () => send(`${gw.url}/fhir/Observation?patient=p-reload`, { headers: { authorization: `Bearer ${caller}`, breaktheglass: issued.token as string } });
    expect((await fhir()).status).toBe(200);
    const narrower = validateConfig(
      merge(JSON.parse(JSON.stringify(gw.config)) as Record<string, unknown>, { btg: { routes: [{ path: '/patients/{pkbId}/**' }], enabledTeams: ['team-b'] } }),
      'reload',
      {},
    );
    await gw.gateway.reload(narrower);
    const refused = await fhir();
    expect(refused.status).toBe(403);
    expect(refused.json().error).toBe('route_not_allowed');
    expect((await grant('p-reload', caller, 'dr.reload2')).status).toBe(401);
    await gw.gateway.reload(gw.config);
    expect((await fhir()).status).toBe(200);
  });
});
