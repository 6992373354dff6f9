import { createHash } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { auditRecords, recordsFor } from '../support/audit-file.js';
import { startTestGateway, type RunningGateway } from '../support/gateway-harness.js';
import { send, sendRaw, type ClientResponse } from '../support/http-client.js';
import { RecordingUpstream } from '../support/recording-upstream.js';
import { exchangeOnce } from '../support/websocket-client.js';

let upstream: RecordingUpstream;
let gw: RunningGateway;
let clinician: string;
let btg: { token: string; tokenId: string };

async function issue(pkbId: string, caller = clinician): Promise<{ token: string; tokenId: string }> {
  const res = await send(`${gw.url}/btg`, {
    method: 'POST',
    headers: { authorization: `Bearer ${caller}`, 'content-type': 'application/json' },
    body: JSON.stringify({ userId: 'dr.jones', pkbId, reason: 'emergency' }),
  });
  expect(res.status).toBe(200);
  return res.json();
}

function btgGet(target: string, headers: Record<string, string> = {}): Promise<ClientResponse> {
  return send(`${gw.url}${target}`, { headers: { authorization: `Bearer ${clinician}`, breaktheglass: btg.token, ...headers } });
}

/** A gateway whose upstream went away after a grant was issued through it. */
async function withUpstreamGone(test: (down: RunningGateway, caller: string, token: string) => Promise<void>): Promise<void> {
  const doomed = await new RecordingUpstream().start();
  const down = await startTestGateway(doomed.url);
  try {
    const caller = await down.callerToken();
    const issued = (await send(`${down.url}/btg?userId=u&pkbId=p1`, { method: 'POST', headers: { authorization: `Bearer ${caller}` } })).json();
    await doomed.stop();
    await test(down, caller, issued.token as string);
  } finally {
    await down.stop();
  }
}

/** For targets an HTTP client would normalise before sending. */
async function btgRaw(target: string): Promise<ClientResponse> {
  const raw = await sendRaw(gw.port, `GET ${target} HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer ${clinician}\r\nbreaktheglass: ${btg.token}\r\nConnection: close\r\n\r\n`);
  const [head, body = ''] = raw.split('\r\n\r\n');
  const lines = head!.split('\r\n');
  const headers = Object.fromEntries(lines.slice(1).map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
  return { status: Number(lines[0]!.split(' ')[1]), headers, rawHeaders: [], body: Buffer.from(body), text: body, json: <T>() => JSON.parse(body) as T };
}

/** Requests upstream received that carried (in any spelling) the BTG header. */
const leaks = (): number => upstream.received.filter((r) => r.rawHeaders.some((h, i) => i % 2 === 0 && h.toLowerCase() === 'breaktheglass')).length;

beforeAll(async () => {
  upstream = await new RecordingUpstream().start();
  gw = await startTestGateway(upstream.url);
  clinician = await gw.callerToken();
  btg = await issue('p1');
});

beforeEach(() => {
  upstream.received.length = 0;
});

afterAll(async () => {
  expect(leaks()).toBe(0);
  await gw.stop();
  await upstream.stop();
});

describe('allowed BTG requests', () => {
  it('forwards the exact validated target with identity headers and without the BTG header', async () => {
    const res = await btgGet('/patients/p1/records?since=2024-01-01&x=%41');
    expect(res.status).toBe(200);
    const seen = upstream.received[0]!;
    expect(seen.url).toBe('/patients/p1/records?since=2024-01-01&x=%41');
    expect(seen.headers).toMatchObject({ 'x-btg-token-id': btg.tokenId, 'x-btg-user-id': 'dr.jones', 'x-btg-team-id': 'team-a', 'x-btg-patient-id': 'p1' });
    expect(leaks()).toBe(0);
  });

  it('replaces spoofed identity headers and drops method-override headers', async () => {
    await btgGet('/patients/p1', { 'X-BTG-Patient-Id': 'p2', 'x-btg-team-id': 'evil', 'X-HTTP-Method-Override': 'DELETE', 'X-Original-URL': '/patients/p2' });
    const seen = upstream.received[0]!;
    expect(seen.headers['x-btg-patient-id']).toBe('p1');
    expect(seen.headers['x-btg-team-id']).toBe('team-a');
    expect(seen.rawHeaders.filter((h) => h.toLowerCase() === 'x-btg-patient-id')).toHaveLength(1);
    expect(seen.headers['x-http-method-override']).toBeUndefined();
    expect(seen.headers['x-original-url']).toBeUndefined();
  });

  it('locates the patient in a FHIR query, including Patient/<id>', async () => {
    expect((await btgGet('/fhir/Observation?patient=p1')).status).toBe(200);
    expect((await btgGet('/fhir/Observation?patient=Patient%2Fp1&_count=5')).status).toBe(200);
    expect(upstream.received.map((r) => r.url)).toEqual(['/fhir/Observation?patient=p1', '/fhir/Observation?patient=Patient%2Fp1&_count=5']);
  });

  it('writes a durable access record before forwarding and a response record with the digest of what the client got', async () => {
    const res = await btgGet('/patients/p1/records');
    const [access, response] = recordsFor(gw.dir, res.headers['x-request-id'] as string);
    expect(access).toMatchObject({ event: 'access', outcome: 'success', teamId: 'team-a', userId: 'dr.jones', pkbId: 'p1', tokenId: btg.tokenId, reason: 'emergency' });
    expect(access!.request).toMatchObject({ method: 'GET', path: '/patients/p1/records', query: '', clientIp: '127.0.0.1' });
    await expect.poll(() => recordsFor(gw.dir, res.headers['x-request-id'] as string).length).toBe(2);
    expect(recordsFor(gw.dir, res.headers['x-request-id'] as string)[1]).toMatchObject({
      event: 'response',
      outcome: 'success',
      response: { status: 200, bytes: res.body.length, sha256: createHash('sha256').update(res.body).digest('hex'), contentType: 'application/json' },
    });
    expect(response === undefined || response.event === 'response').toBe(true);
  });

  it('checks the body-bearing request before answering 100-continue, and never forwards the header', async () => {
    const allowed = await sendRaw(
      gw.port,
      `PUT /patients/p1/records HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer ${clinician}\r\nbreaktheglass: ${btg.token}\r\n` +
        'Expect: 100-continue\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}',
    );
    expect(allowed).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200/);
    expect(upstream.received[0]!.body.toString()).toBe('{}');
    const refused = await sendRaw(
      gw.port,
      `PUT /patients/p2/records HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer ${clinician}\r\nbreaktheglass: ${btg.token}\r\n` +
        'Expect: 100-continue\r\nContent-Length: 2\r\nConnection: close\r\n\r\n',
    );
    expect(refused).toMatch(/^HTTP\/1\.1 403/);
    expect(upstream.received).toHaveLength(1);
  });

  it('treats any spelling of the header, or one named in Connection, as BTG and never forwards it', async () => {
    const mixed = await sendRaw(gw.port, `GET /patients/p1 HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer ${clinician}\r\nBreakTheGlass: ${btg.token}\r\nConnection: close, breaktheglass\r\n\r\n`);
    expect(mixed).toMatch(/^HTTP\/1\.1 200/);
    expect(upstream.received[0]!.headers['x-btg-patient-id']).toBe('p1');
    expect(leaks()).toBe(0);
  });
});

describe('refused BTG requests never reach upstream and are audited as denied', () => {
  const cases: Array<[string, () => Promise<ClientResponse>, number, string]> = [
    ['another patient', () => btgGet('/patients/p2/records'), 403, 'patient_mismatch'],
    ['another patient in a FHIR query', () => btgGet('/fhir/Observation?patient=Patient/p2'), 403, 'patient_mismatch'],
    ['the patient parameter twice', () => btgGet('/fhir/Observation?patient=p1&patient=p2'), 400, 'bad_request'],
    ['a route that names no patient', () => btgGet('/admin/users'), 403, 'route_not_allowed'],
    ['a method not allowed for BTG', () => send(`${gw.url}/patients/p1`, { method: 'DELETE', headers: { authorization: `Bearer ${clinician}`, breaktheglass: btg.token } }), 403, 'route_not_allowed'],
    ['dot segments', () => btgRaw('/patients/p1/../p2/records'), 400, 'bad_request'],
    ['an encoded dot segment', () => btgRaw('/patients/p1/%2e%2e/p2'), 400, 'bad_request'],
    ['an encoded slash', () => btgGet('/patients/p1%2F..%2Fp2'), 400, 'bad_request'],
    ['a garbled token', () => btgGet('/patients/p1', { breaktheglass: 'a.b.c' }), 401, 'invalid_token'],
    ['a header that is no token at all', () => btgGet('/patients/p1', { breaktheglass: 'let-me-in' }), 401, 'invalid_token'],
    ['no caller token', () => send(`${gw.url}/patients/p1`, { headers: { breaktheglass: btg.token } }), 401, 'unauthorized'],
    ['a caller of another team', async () => btgGet('/patients/p1', { authorization: `Bearer ${await gw.callerToken({ team: 'team-z' })}` }), 403, 'team_mismatch'],
  ];

  for (const [name, attempt, status, code] of cases) {
    it(`${name}: ${status} ${code}`, async () => {
      const res = await attempt();
      expect(res.status).toBe(status);
      expect(res.json()).toEqual({ error: code, message: expect.any(String), requestId: res.headers['x-request-id'] });
      expect(res.text).not.toContain(btg.token);
      expect(upstream.received).toHaveLength(0);
      expect(recordsFor(gw.dir, res.headers['x-request-id'] as string)).toEqual([expect.objectContaining({ event: 'denied', outcome: 'failure', code })]);
    });
  }

  it('records both patients of a patient_mismatch', async () => {
    const res = await btgGet('/patients/p2/records');
    expect(recordsFor(gw.dir, res.headers['x-request-id'] as string)[0]).toMatchObject({ pkbId: 'p2', tokenPkbId: 'p1', tokenId: btg.tokenId, teamId: 'team-a', userId: 'dr.jones' });
  });

  it('names the addressed patient in refusals that come before route matching', async () => {
    const forged = await btgGet('/patients/p9/records', { breaktheglass: 'a.b.c' });
    expect(recordsFor(gw.dir, forged.headers['x-request-id'] as string)[0]).toMatchObject({ code: 'invalid_token', pkbId: 'p9' });
    const otherTeam = await btgGet('/patients/p9', { authorization: `Bearer ${await gw.callerToken({ team: 'team-z' })}` });
    expect(recordsFor(gw.dir, otherTeam.headers['x-request-id'] as string)[0]).toMatchObject({ code: 'team_mismatch', pkbId: 'p9', tokenPkbId: 'p1' });
  });

  it('refuses the header sent twice', async () => {
    const raw = await sendRaw(gw.port, `GET /patients/p1 HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer ${clinician}\r\nbreaktheglass: ${btg.token}\r\nbreaktheglass: ${btg.token}\r\nConnection: close\r\n\r\n`);
    expect(raw).toMatch(/^HTTP\/1\.1 401/);
    expect(raw).toContain('"error":"invalid_token"');
    expect(upstream.received).toHaveLength(0);
    const requestId = /x-request-id: (\S+)/i.exec(raw)![1]!;
    expect(recordsFor(gw.dir, requestId)).toEqual([expect.objectContaining({ event: 'denied', code: 'invalid_token' })]);
  });
});

describe('expiry', () => {
  it('refuses a token after its 30 minutes with token_expired', async () => {
    let clock = Date.now();
    const timed = await startTestGateway(upstream.url, {}, { now: () => clock });
    try {
      const caller = await timed.callerToken({ expiresInSeconds: 7200 });
      const issued = (await send(`${timed.url}/btg?userId=u1&pkbId=p1`, { method: 'POST', headers: { authorization: `Bearer ${caller}` } })).json();
      const use = () => send(`${timed.url}/patients/p1`, { headers: { authorization: `Bearer ${caller}`, breaktheglass: issued.token as string } });
      expect((await use()).status).toBe(200);
      clock += 29 * 60_000;
      expect((await use()).status).toBe(200);
      clock += 2 * 60_000;
      const late = await use();
      expect(late.status).toBe(401);
      expect(late.json().error).toBe('token_expired');
    } finally {
      await timed.stop();
    }
  });
});

describe('revocation near expiry', () => {
  it('keeps a revoked token refused through the clock tolerance after its exp', async () => {
    let clock = Date.now();
    const timed = await startTestGateway(upstream.url, { btg: { clockToleranceSeconds: 5 } }, { now: () => clock });
    try {
      const caller = await timed.callerToken({ expiresInSeconds: 7200 });
      const issued = (await send(`${timed.url}/btg?userId=u1&pkbId=p1`, { method: 'POST', headers: { authorization: `Bearer ${caller}` } })).json();
      const headers = { authorization: `Bearer ${caller}`, breaktheglass: issued.token as string };
      expect((await send(`${timed.url}/btg`, { method: 'DELETE', headers })).status).toBe(204);
      clock += 1800_000 + 3_000;
      const late = await send(`${timed.url}/patients/p1`, { headers });
      expect(late.status).toBe(401);
      expect(late.json().error).toBe('token_revoked');
      clock += 3_000;
      expect((await send(`${timed.url}/patients/p1`, { headers })).json().error).toBe('token_expired');
    } finally {
      await timed.stop();
    }
  });
});

describe('upstream failures on BTG requests', () => {
  it('answers 502 and audits the response as a failure', async () => {
    await withUpstreamGone(async (down, caller, token) => {
      const res = await send(`${down.url}/patients/p1`, { headers: { authorization: `Bearer ${caller}`, breaktheglass: token } });
      expect(res.status).toBe(502);
      const id = res.headers['x-request-id'] as string;
      await expect.poll(() => recordsFor(down.dir, id).map((r) => r.event)).toEqual(['access', 'response']);
      const response = recordsFor(down.dir, id)[1]!;
      expect(response).toMatchObject({ outcome: 'failure', code: 'upstream_unavailable', response: { status: 502, bytes: res.body.length } });
      expect(response.response!.sha256).toBe(createHash('sha256').update(res.body).digest('hex'));
    });
  });
});

describe('WebSocket upgrades with a BTG header', () => {
  it('are checked, audited, and forwarded without the header', async () => {
    const reply = await exchangeOnce(`ws://127.0.0.1:${gw.port}/patients/p1/stream`, { authorization: `Bearer ${clinician}`, breaktheglass: btg.token }, 'hello');
    expect(reply).toBe('echo:hello');
    expect(upstream.received[0]!.headers['x-btg-patient-id']).toBe('p1');
    expect(leaks()).toBe(0);
    const access = auditRecords(gw.dir).find((r) => r.event === 'access' && r.request?.path === '/patients/p1/stream')!;
    expect(access).toBeDefined();
    await expect.poll(() => recordsFor(gw.dir, access.request!.id).map((r) => r.event)).toEqual(['access', 'response']);
    expect(recordsFor(gw.dir, access.request!.id)[1]).toMatchObject({ outcome: 'success', response: { status: 101 } });
  });

  it('are audited as upstream_unavailable when upstream cannot be reached, with the digest of the 502 sent', async () => {
    await withUpstreamGone(async (down, caller, token) => {
      const raw = await sendRaw(
        down.port,
        `GET /patients/p1/stream HTTP/1.1\r\nHost: gw\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n` +
          `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nAuthorization: Bearer ${caller}\r\nbreaktheglass: ${token}\r\n\r\n`,
      );
      expect(raw).toMatch(/^HTTP\/1\.1 502/);
      const access = auditRecords(down.dir).find((r) => r.event === 'access')!;
      await expect.poll(() => recordsFor(down.dir, access.request!.id).length).toBe(2);
      expect(recordsFor(down.dir, access.request!.id)[1]).toMatchObject({
        outcome: 'failure',
        code: 'upstream_unavailable',
        response: { status: 502, bytes: Buffer.byteLength(raw, 'latin1'), sha256: createHash('sha256').update(Buffer.from(raw, 'latin1')).digest('hex') },
      });
    });
  });

  it('are refused before the handshake for another patient', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${gw.port}/patients/p2/stream`, { headers: { authorization: `Bearer ${clinician}`, breaktheglass: btg.token } });
    const status = await new Promise<number>((resolve) => ws.on('unexpected-response', (_req, res) => resolve(res.statusCode!)));
    expect(status).toBe(403);
    expect(upstream.received).toHaveLength(0);
  });
});
