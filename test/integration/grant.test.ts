import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditRecords, recordsFor } from '../support/audit-file.js';
import { startTestGateway, type RunningGateway } from '../support/gateway-harness.js';
import { send, type ClientResponse } from '../support/http-client.js';
import { RecordingUpstream } from '../support/recording-upstream.js';

let upstream: RecordingUpstream;
let gw: RunningGateway;
let clinician: string;

const PATIENT_MESSAGE = 'Method requires a user within scope(s) CLINICIAN and BTG functionality enabled but current user is of UserType PATIENT';

/** `token: null` sends no Authorization header at all. */
function grant(body: unknown, token: string | null = clinician): Promise<ClientResponse> {
  return send(`${gw.url}/btg`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

beforeAll(async () => {
  upstream = await new RecordingUpstream()
    .on('/patients/nobody', (_req, res) => res.writeHead(404).end())
    .on('/patients/broken', (_req, res) => res.writeHead(500).end())
    .start();
  gw = await startTestGateway(upstream.url, {
    btg: { enabledTeams: ['team-a', 'team-b'], limits: { grantsPerUserPerHour: 4, grantsPerTeamPerHour: 100 } },
  });
  clinician = await gw.callerToken();
});

afterAll(async () => {
  await gw.stop();
  await upstream.stop();
});

describe('POST /btg', () => {
  it('issues a 30-minute BTG token to a CLINICIAN of an enabled team (JSON body)', async () => {
    const res = await grant({ userId: 'dr.jones', pkbId: 'p-100', reason: 'unconscious in ED' });
    expect(res.status).toBe(200);
    const body = res.json();
    expect(body.message).toBe('Consent levels set to BTG against patient p-100 for requestor dr.jones valid until 00:00:30:00');
    expect(body).toMatchObject({ pkbId: 'p-100', userId: 'dr.jones', teamId: 'team-a', expiresIn: 1800, reason: 'unconscious in ED' });
    expect(res.headers.breaktheglass).toBe(body.token);
    const header = decodeProtectedHeader(body.token as string);
    expect(header).toMatchObject({ alg: 'EdDSA', typ: 'btg+jwt' });
    expect(header.kid).toEqual(expect.any(String));

    const jwks = (await send(`${gw.url}/.well-known/jwks.json`)).json() as { keys: [] };
    const { payload } = await jwtVerify(body.token as string, createLocalJWKSet(jwks), { issuer: 'btg-gateway', audience: 'btg-gateway' });
    expect(payload).toMatchObject({ sub: 'dr.jones', team: 'team-a', pkbId: 'p-100', jti: body.tokenId, reason: 'unconscious in ED' });
    expect(payload.exp! - payload.iat!).toBe(1800);
    expect(new Date(body.expiresAt as string).getTime()).toBe(payload.exp! * 1000);
    expect(upstream.received.some((r) => r.url === '/patients/p-100' && r.method === 'GET')).toBe(true);
  });

  it('accepts the fields as a form body and as a query string', async () => {
    const form = await send(`${gw.url}/btg`, {
      method: 'POST',
      headers: { authorization: `Bearer ${clinician}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'userId=dr.form&pkbId=p-101',
    });
    expect(form.status).toBe(200);
    expect(form.json().pkbId).toBe('p-101');
    const query = await send(`${gw.url}/btg?userId=dr.query&pkbId=p-102`, { method: 'POST', headers: { authorization: `Bearer ${clinician}` } });
    expect(query.status).toBe(200);
    expect(query.json().userId).toBe('dr.query');
  });

  it('refuses a missing, invalid or expired caller token with 401 "Login context is null."', async () => {
    const expired = await gw.callerToken({ expiresInSeconds: -60 });
    for (const token of [null, 'not-a-jwt', expired]) {
      const res = await grant({ userId: 'dr.jones', pkbId: 'p-100' }, token);
      expect(res.status, `${token?.slice(0, 12)} ${res.text}`).toBe(401);
      expect(res.json()).toMatchObject({ error: 'unauthorized', message: expect.stringMatching(/^Login context is null\./) });
    }
  });

  it('refuses a PATIENT with the seed message, and a team without BTG', async () => {
    const patient = await grant({ userId: 'sam', pkbId: 'p-100' }, await gw.callerToken({ user_type: 'PATIENT' }));
    expect(patient.status).toBe(401);
    expect(patient.json().message).toBe(PATIENT_MESSAGE);
    const byQuery = await send(`${gw.url}/btg?userId=sam&pkbId=p-101`, { method: 'POST', headers: { authorization: `Bearer ${await gw.callerToken({ user_type: 'PATIENT' })}` } });
    expect(recordsFor(gw.dir, byQuery.headers['x-request-id'] as string)).toEqual([
      expect.objectContaining({ event: 'grant', outcome: 'failure', code: 'unauthorized', pkbId: 'p-101', userId: 'sam' }),
    ]);
    const team = await grant({ userId: 'dr.c', pkbId: 'p-100' }, await gw.callerToken({ team: 'team-c' }));
    expect(team.status).toBe(401);
    expect(team.json().message).toBe('Method requires a user within scope(s) CLINICIAN and BTG functionality enabled but team team-c does not have BTG functionality enabled');
  });

  it('answers 400 for missing or malformed fields and bodies, 413 for oversized bodies', async () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ pkbId: 'p-1' }, /userId is required/],
      [{ userId: 'dr.x' }, /pkbId is required/],
      [{ userId: 'dr x', pkbId: 'p-1' }, /userId must be/],
      [{ userId: 'dr.x', pkbId: '../etc' }, /pkbId must be/],
      [{ userId: 'dr.x', pkbId: '..' }, /pkbId must be/],
      [{ userId: 'dr.x', pkbId: 7 }, /pkbId must be a string/],
      [['userId'], /must be an object/],
      [{ userId: 'dr.x', pkbId: 'p-1', reason: 'x'.repeat(501) }, /reason must be at most 500/],
    ];
    for (const [body, message] of cases) {
      const res = await grant(body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.json()).toMatchObject({ error: 'bad_request', message: expect.stringMatching(message) });
    }
    const broken = await send(`${gw.url}/btg`, { method: 'POST', headers: { authorization: `Bearer ${clinician}`, 'content-type': 'application/json' }, body: '{"userId":' });
    expect(broken.status).toBe(400);
    const ambiguous = await send(`${gw.url}/btg?pkbId=p-1&pkbId=p-2&userId=u`, { method: 'POST', headers: { authorization: `Bearer ${clinician}` } });
    expect(ambiguous.status).toBe(400);
    const huge = await grant({ userId: 'dr.x', pkbId: 'p-1', pad: 'x'.repeat(20_000) });
    expect(huge.status).toBe(413);
  });

  it('answers 404 "Patient not found" and 502 when the lookup fails', async () => {
    const missing = await grant({ userId: 'dr.jones', pkbId: 'nobody' });
    expect(missing.status).toBe(404);
    expect(missing.json()).toMatchObject({ error: 'patient_not_found', message: 'Patient not found' });
    const broken = await grant({ userId: 'dr.jones', pkbId: 'broken' });
    expect(broken.status).toBe(502);
    expect(broken.json().error).toBe('upstream_unavailable');
  });

  it('rate-limits grants per user with 429 and Retry-After', async () => {
    const token = await gw.callerToken({ team: 'team-b' });
    const statuses: number[] = [];
    let last: ClientResponse | undefined;
    for (let i = 0; i < 5; i++) {
      last = await grant({ userId: 'dr.busy', pkbId: `p-${200 + i}` }, token);
      statuses.push(last.status);
    }
    expect(statuses).toEqual([200, 200, 200, 200, 429]);
    expect(last!.json().error).toBe('rate_limited');
    expect(Number(last!.headers['retry-after'])).toBeGreaterThan(3500);
    const other = await grant({ userId: 'dr.calm', pkbId: 'p-300' }, token);
    expect(other.status).toBe(200);
  });

  it('rejects other methods on the grant path', async () => {
    const res = await send(`${gw.url}/btg`, { method: 'GET', headers: { authorization: `Bearer ${clinician}` } });
    expect(res.status).toBe(405);
    expect(res.headers.allow).toBe('POST, DELETE');
  });

  it('audits grants and refusals, without the raw token anywhere in the trail or the logs', async () => {
    const ok = await grant({ userId: 'dr.audit', pkbId: 'p-400' });
    const token = ok.json().token as string;
    const [granted] = recordsFor(gw.dir, ok.headers['x-request-id'] as string);
    expect(granted).toMatchObject({ event: 'grant', outcome: 'success', teamId: 'team-a', userId: 'dr.audit', pkbId: 'p-400', tokenId: ok.json().tokenId });
    const refused = await grant({ userId: 'dr.audit', pkbId: 'nobody' });
    expect(recordsFor(gw.dir, refused.headers['x-request-id'] as string)).toEqual([
      expect.objectContaining({ event: 'grant', outcome: 'failure', code: 'patient_not_found', pkbId: 'nobody', teamId: 'team-a' }),
    ]);
    const trail = JSON.stringify(auditRecords(gw.dir));
    expect(trail).not.toContain(token);
    expect(trail).not.toContain(clinician);
    expect(gw.logText()).not.toContain(token);
    expect(gw.logText()).not.toContain(clinician);
  });
});

describe('DELETE /btg', () => {
  it('revokes the presented token (204), after which it is refused', async () => {
    const issued = (await grant({ userId: 'dr.revoker', pkbId: 'p-500' })).json();
    const use = () => send(`${gw.url}/patients/p-500`, { headers: { authorization: `Bearer ${clinician}`, breaktheglass: issued.token as string } });
    expect((await use()).status).toBe(200);
    const revoked = await send(`${gw.url}/btg`, { method: 'DELETE', headers: { authorization: `Bearer ${clinician}`, breaktheglass: issued.token as string } });
    expect(revoked.status).toBe(204);
    const after = await use();
    expect(after.status).toBe(401);
    expect(after.json().error).toBe('token_revoked');
    expect(auditRecords(gw.dir).filter((r) => r.event === 'revoke' && r.tokenId === issued.tokenId)).toHaveLength(1);
  });

  it("refuses to revoke another team's token (403) and needs the token (400) and a caller (401)", async () => {
    const issued = (await grant({ userId: 'dr.other', pkbId: 'p-501' })).json();
    const otherTeam = await gw.callerToken({ team: 'team-b' });
    const res = await send(`${gw.url}/btg`, { method: 'DELETE', headers: { authorization: `Bearer ${otherTeam}`, breaktheglass: issued.token as string } });
    expect(res.status).toBe(403);
    expect(res.json().error).toBe('team_mismatch');
    const noToken = await send(`${gw.url}/btg`, { method: 'DELETE', headers: { authorization: `Bearer ${clinician}` } });
    expect(noToken.status).toBe(400);
    const noCaller = await send(`${gw.url}/btg`, { method: 'DELETE', headers: { breaktheglass: issued.token as string } });
    expect(noCaller.status).toBe(401);
  });
});
