import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { generateKeyFile } from '../../src/btg/signing-keys.js';
import { createDemoIdentityProvider, type DemoIdentityProvider } from '../../src/demo/demo-identity.js';
import { runCli, serveUntilExit, spawnGateway, type GatewayProcess } from '../support/gateway-process.js';
import { send, type ClientResponse } from '../support/http-client.js';
import { MutingProxy } from '../support/muting-proxy.js';
import { RecordingUpstream } from '../support/recording-upstream.js';
import { describeWithService, postgresAvailable, redisAvailable, type ServiceCheck } from '../support/services.js';
import { ThrowawayRedis } from '../support/throwaway-redis.js';

/**
 * SPEC 9 with real processes: gateways started from dist/ on their own ports, sharing one Redis
 * and one PostgreSQL table, behave as one gateway; outages of either fail closed and heal.
 */

const REDIS_URL = 'redis://127.0.0.1:6379';
const PG_PORT = 5432;
const PG_URL = pgUrl(PG_PORT);
const ADMIN_TOKEN = 'replicas-test-admin-token-0123';
const RUN = randomUUID().replaceAll('-', '').slice(0, 12);
const TABLE = `btg_replicas_test_${RUN}`;
const KEY_PREFIX = `btg-test:replicas:${RUN}:`;

const checks = await Promise.all([redisAvailable(), postgresAvailable('127.0.0.1', PG_PORT)]);
const missing = checks.filter(({ available }) => !available);
const services: ServiceCheck = {
  service: missing.map(({ service }) => service).join(' and '),
  available: missing.length === 0,
};

function pgUrl(port: number): string {
  return `postgres://postgres@127.0.0.1:${port}/test`;
}

interface Backends {
  redisUrl?: string;
  postgresUrl?: string;
  port?: number;
}

describeWithService('two gateway processes sharing Redis and PostgreSQL', services, () => {
  let dir: string;
  let upstream: RecordingUpstream;
  let idp: DemoIdentityProvider;
  let db: pg.Client;
  let redis: Redis;
  let a: GatewayProcess;
  let b: GatewayProcess;
  const running: GatewayProcess[] = [];
  const failedStarts: Array<{ kill(): void }> = [];
  const throwaways: ThrowawayRedis[] = [];
  const proxies: MutingProxy[] = [];
  const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };

  /** One config for any number of replicas: each names its chain through BTG_INSTANCE. */
  function writeConfig(name: string, { redisUrl = REDIS_URL, postgresUrl = PG_URL, port = 0 }: Backends = {}): string {
    const file = join(dir, `${name}.yaml`);
    writeFileSync(
      file,
      [
        `server: {host: 127.0.0.1, port: ${port}, shutdownTimeoutMs: 2000}`,
        `admin: {host: 127.0.0.1, port: 0, token: "${ADMIN_TOKEN}"}`,
        `upstream: {url: "${upstream.url}"}`,
        `callerAuth: {type: jwt, jwt: {jwksFile: "${join(dir, 'jwks.json')}", issuer: "${idp.issuer}", audience: "${idp.audience}"}}`,
        'btg:',
        `  signing: {alg: EdDSA, keyFile: "${join(dir, 'signing.jwk')}"}`,
        '  limits: {grantsPerUserPerHour: 3}',
        // Long enough that no test's grant depends on when the shared existence cache expires.
        '  patientLookup: {cacheSeconds: 3600}',
        `store: {type: redis, url: "${redisUrl}", keyPrefix: "${KEY_PREFIX}"}`,
        `audit: {sinks: [{type: postgres, url: "${postgresUrl}", table: ${TABLE}}], instance: "\${BTG_INSTANCE}"}`,
        'logging: {level: info}',
      ].join('\n'),
    );
    return file;
  }

  async function replica(configFile: string, instance: string): Promise<GatewayProcess> {
    const gateway = await spawnGateway(configFile, { BTG_INSTANCE: instance });
    running.push(gateway);
    return gateway;
  }

  const login = (user: string): Promise<string> => idp.mint({ sub: user, team: 'team-a', user_type: 'CLINICIAN' });

  const requestGrant = (gateway: GatewayProcess, caller: string, userId: string, pkbId: string): Promise<ClientResponse> =>
    send(`${gateway.url}/btg?userId=${userId}&pkbId=${pkbId}`, { method: 'POST', headers: { authorization: `Bearer ${caller}` } });

  async function grantOn(gateway: GatewayProcess, userId: string, pkbId: string): Promise<{ caller: string; token: string; tokenId: string }> {
    const caller = await login(userId);
    const res = await requestGrant(gateway, caller, userId, pkbId);
    expect(res.status, res.text).toBe(200);
    const { token, tokenId } = res.json<{ token: string; tokenId: string }>();
    return { caller, token, tokenId };
  }

  const readRecords = (gateway: GatewayProcess, caller: string, pkbId: string, token?: string): Promise<ClientResponse> =>
    send(`${gateway.url}/patients/${pkbId}/records`, {
      headers: { authorization: `Bearer ${caller}`, ...(token === undefined ? {} : { breaktheglass: token }) },
    });

  const revokeOn = (gateway: GatewayProcess, caller: string, token: string): Promise<ClientResponse> =>
    send(`${gateway.url}/btg`, { method: 'DELETE', headers: { authorization: `Bearer ${caller}`, breaktheglass: token } });

  async function readiness(gateway: GatewayProcess): Promise<{ status: number; checks: Record<string, string> }> {
    const res = await send(`${gateway.adminUrl}/readyz`);
    return { status: res.status, checks: res.json<{ checks: Record<string, string> }>().checks };
  }

  const becomesReady = (gateway: GatewayProcess): Promise<void> =>
    expect.poll(async () => (await readiness(gateway)).status, { timeout: 10_000, interval: 50 }).toBe(200);

  async function activeTokenIds(gateway: GatewayProcess): Promise<string[]> {
    const res = await send(`${gateway.adminUrl}/grants`, { headers: admin });
    expect(res.status).toBe(200);
    return res.json<Array<{ tokenId: string }>>().map(({ tokenId }) => tokenId);
  }

  const verify = (...extra: string[]): ReturnType<typeof runCli> =>
    runCli(['audit', 'verify', '--postgres', PG_URL, '--table', TABLE, ...extra]);

  function expectRefused(res: ClientResponse, status: number, code: string): void {
    expect(res.status, res.text).toBe(status);
    expect(res.json().error).toBe(code);
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'btg-replicas-'));
    upstream = await new RecordingUpstream().start();
    idp = await createDemoIdentityProvider();
    await idp.writeJwksFile(join(dir, 'jwks.json'));
    // One signing key for every replica, so each verifies the tokens the others issue.
    await generateKeyFile('EdDSA', join(dir, 'signing.jwk'));
    db = new pg.Client(PG_URL);
    await db.connect();
    redis = new Redis(REDIS_URL);
    const config = writeConfig('shared');
    // Started together: both migrate the fresh table at once, which must apply it exactly once.
    [a, b] = await Promise.all([replica(config, 'gw-a'), replica(config, 'gw-b')]);
  });

  afterAll(async () => {
    for (const start of failedStarts) start.kill();
    await Promise.all(running.map((gateway) => gateway.stop('SIGTERM')));
    await Promise.all(throwaways.map((server) => server.stop()));
    await Promise.all(proxies.map((proxy) => proxy.close()));
    if (db) {
      await db.query(`DROP TABLE IF EXISTS "${TABLE}"`);
      await db.query('DELETE FROM btg_schema_migrations WHERE table_name = $1', [TABLE]).catch(() => undefined);
      await db.end();
    }
    if (redis) {
      const keys: string[] = [];
      for await (const batch of redis.scanStream({ match: `${KEY_PREFIX}*`, count: 500 })) keys.push(...(batch as string[]));
      if (keys.length > 0) await redis.del(...keys);
      await redis.quit();
    }
    await upstream?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('honours a grant issued by A on B, adding the identity headers upstream', async () => {
    const { caller, token, tokenId } = await grantOn(a, 'dr.one', 'pat-1');
    const before = upstream.received.length;

    expect((await readRecords(b, caller, 'pat-1', token)).status).toBe(200);

    const forwarded = upstream.received.slice(before);
    expect(forwarded.map(({ url }) => url)).toEqual(['/patients/pat-1/records']);
    expect(forwarded[0]!.headers).toMatchObject({ 'x-btg-token-id': tokenId, 'x-btg-user-id': 'dr.one', 'x-btg-team-id': 'team-a', 'x-btg-patient-id': 'pat-1' });
    expect(forwarded[0]!.headers.breaktheglass).toBeUndefined();
    expect(await activeTokenIds(b)).toContain(tokenId);
  });

  it('refuses a token revoked on A on the very next request to B', async () => {
    const { caller, token, tokenId } = await grantOn(a, 'dr.two', 'pat-2');
    // B has verified this token once and holds it in its verified-token cache.
    expect((await readRecords(b, caller, 'pat-2', token)).status).toBe(200);

    expect((await revokeOn(a, caller, token)).status).toBe(204);
    const before = upstream.received.length;

    expectRefused(await readRecords(b, caller, 'pat-2', token), 401, 'token_revoked');
    expect(upstream.received.length).toBe(before);
    expect(await activeTokenIds(b)).not.toContain(tokenId);
  });

  it('counts grants on both replicas against one rate limit', async () => {
    const caller = await login('dr.three');
    const statuses: number[] = [];
    for (const gateway of [a, b, a]) statuses.push((await requestGrant(gateway, caller, 'dr.three', 'pat-3')).status);
    expect(statuses).toEqual([200, 200, 200]);

    const limited = await requestGrant(b, caller, 'dr.three', 'pat-3');
    expectRefused(limited, 429, 'rate_limited');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(Number(limited.headers['retry-after'])).toBeLessThanOrEqual(3600);
  });

  it('writes one audit table in which each replica keeps a chain that verifies', async () => {
    const { caller, token } = await grantOn(a, 'dr.four', 'pat-4');
    expect((await readRecords(b, caller, 'pat-4', token)).status).toBe(200);

    // Either replica reads the whole table: B's /audit shows A's grant.
    const history = await send(`${b.adminUrl}/audit?pkbId=pat-4`, { headers: admin });
    expect(history.status).toBe(200);
    const seen = history.json<Array<{ instance: string; event: string }>>().map(({ instance, event }) => `${instance} ${event}`);
    expect(seen).toEqual(expect.arrayContaining(['gw-a grant', 'gw-b access']));
    const { rows } = await db.query<{ instance: string }>(`SELECT DISTINCT instance FROM "${TABLE}" WHERE instance IN ('gw-a', 'gw-b') ORDER BY instance`);
    expect(rows.map(({ instance }) => instance)).toEqual(['gw-a', 'gw-b']);

    for (const instance of ['gw-a', 'gw-b']) {
      const result = await verify('--instance', instance);
      expect(result.status, result.stdout + result.stderr).toBe(0);
      expect(result.stdout).toMatch(new RegExp(`^ok: \\d+ records in table ${TABLE}, chains intact for instance\\(s\\) ${instance}\\n`));
    }
    const all = await verify();
    expect(all.status, all.stdout + all.stderr).toBe(0);
    expect(all.stdout).toMatch(/chains intact for instance\(s\) gw-a, gw-b\b/);
  });

  it('fails BTG closed while Redis is down, keeps pass-through working, and heals when Redis returns', async () => {
    const server = await ThrowawayRedis.start();
    throwaways.push(server);
    const config = writeConfig('throwaway-redis', { redisUrl: server.url });
    const [c, d] = await Promise.all([replica(config, 'gw-c'), replica(config, 'gw-d')]);
    const { caller, token, tokenId } = await grantOn(c, 'dr.five', 'pat-5');
    expect((await readRecords(d, caller, 'pat-5', token)).status).toBe(200);

    await server.stop();
    const before = upstream.received.length;
    for (const gateway of [c, d]) {
      expectRefused(await readRecords(gateway, caller, 'pat-5', token), 503, 'store_unavailable');
      const grant = await requestGrant(gateway, caller, 'dr.five', 'pat-5');
      expectRefused(grant, 503, 'store_unavailable');
      expect(grant.json().token).toBeUndefined();
    }
    // Not a forward, not even a patient lookup.
    expect(upstream.received.length).toBe(before);

    const plain = await readRecords(d, caller, 'pat-5');
    expect(plain.status).toBe(200);
    expect(upstream.received.slice(before).map(({ url }) => url)).toEqual(['/patients/pat-5/records']);
    expect(upstream.received.at(-1)!.headers['x-btg-token-id']).toBeUndefined();
    for (const gateway of [c, d]) {
      const ready = await readiness(gateway);
      expect(ready.status).toBe(503);
      expect(ready.checks).toEqual({ audit: 'ok', store: expect.stringMatching(/grant store is unavailable/) });
    }

    await server.start();
    await Promise.all([c, d].map(becomesReady));
    expect((await readRecords(d, caller, 'pat-5', token)).status).toBe(200);
    expect((await requestGrant(c, caller, 'dr.five', 'pat-5')).status).toBe(200);
    // That Redis kept nothing on disk: the grant list is gone (a revocation would be too), yet the
    // token still verified above, because it is a signed JWT and not a row in the store.
    expect(await activeTokenIds(d)).not.toContain(tokenId);
  });

  it('refuses BTG with 503 audit_unavailable while one replica cannot reach PostgreSQL, and heals', async () => {
    const proxy = await MutingProxy.start(PG_PORT);
    proxies.push(proxy);
    const e = await replica(writeConfig('proxied-postgres', { postgresUrl: pgUrl(proxy.port) }), 'gw-e');
    const { caller, token } = await grantOn(a, 'dr.six', 'pat-6');
    expect((await readRecords(e, caller, 'pat-6', token)).status).toBe(200);

    proxy.cut();
    const before = upstream.received.length;
    expectRefused(await readRecords(e, caller, 'pat-6', token), 503, 'audit_unavailable');
    const grant = await requestGrant(e, caller, 'dr.six', 'pat-6');
    expectRefused(grant, 503, 'audit_unavailable');
    expect(grant.json().token).toBeUndefined();
    expect(upstream.received.length).toBe(before);

    // The other replica's database connection is untouched.
    expect((await readRecords(a, caller, 'pat-6', token)).status).toBe(200);
    expect((await readRecords(e, caller, 'pat-6')).status).toBe(200);
    const ready = await readiness(e);
    expect(ready.status).toBe(503);
    expect(ready.checks).toEqual({ audit: expect.stringMatching(/^postgres: /), store: 'ok' });

    proxy.restore();
    await becomesReady(e);
    expect((await readRecords(e, caller, 'pat-6', token)).status).toBe(200);
    const result = await verify('--instance', 'gw-e');
    expect(result.status, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toMatch(/chains intact for instance\(s\) gw-e\n/);
  });

  it('makes two replicas that share an instance name fail loudly rather than fork its chain', async () => {
    const config = writeConfig('twins');
    const [first, second] = await Promise.all([replica(config, 'gw-twin'), replica(config, 'gw-twin')]);
    const caller = await login('dr.seven');

    expect((await requestGrant(first, caller, 'dr.seven', 'pat-7')).status).toBe(200);
    // The second one still believes the chain is empty: its record collides with the first one's.
    expectRefused(await requestGrant(second, caller, 'dr.seven', 'pat-7'), 503, 'audit_unavailable');
    expect(second.stderr()).toContain('another writer uses this audit instance name');
    // It goes on: each time the other one writes, the first one's idea of the head is stale.
    expectRefused(await requestGrant(first, caller, 'dr.seven', 'pat-7'), 503, 'audit_unavailable');

    const result = await verify('--instance', 'gw-twin');
    expect(result.status, result.stdout + result.stderr).toBe(0);
  });

  it('exits at start-up, instead of serving or hanging, without its audit database or its port', async () => {
    const proxy = await MutingProxy.start(PG_PORT);
    proxies.push(proxy);
    proxy.cut();
    const takenPort = Number(new URL(a.url).port);

    for (const config of [writeConfig('no-database', { postgresUrl: pgUrl(proxy.port) }), writeConfig('port-taken', { port: takenPort })]) {
      const start = serveUntilExit(config, { BTG_INSTANCE: 'gw-never' });
      failedStarts.push(start);
      const { status, stderr } = await start.exit;
      expect(status, stderr).toBe(1);
      expect(stderr).not.toContain('btg-gateway listening');
    }
  });
});
