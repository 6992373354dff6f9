import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { GatewayError } from '../../src/errors.js';
import type { GrantRecord } from '../../src/store/grant-store.js';
import { createRedisGrantStore, type RedisGrantStore, type RedisStoreOptions } from '../../src/store/redis-store.js';
import { describeWithService, redisAvailable } from '../support/services.js';
import { ThrowawayRedis } from '../support/throwaway-redis.js';

const REDIS_URL = 'redis://127.0.0.1:6379';
const RUN_PREFIX = `btg-test:${randomUUID()}:`;
const redis = await redisAvailable();

function grant(overrides: Partial<GrantRecord> = {}): GrantRecord {
  const now = Date.now();
  return {
    jti: randomUUID(),
    teamId: 'team-a',
    userId: 'dr.jones',
    pkbId: 'patient-1',
    reason: 'unconscious in A&E',
    issuedAt: now,
    expiresAt: now + 60_000,
    ...overrides,
  };
}

async function keysUnder(client: Redis, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const batch of client.scanStream({ match: `${prefix}*`, count: 500 })) keys.push(...(batch as string[]));
  return keys;
}

async function expectUnavailable(operation: Promise<unknown>): Promise<void> {
  const err = await operation.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(GatewayError);
  expect(err).toMatchObject({ status: 503, code: 'store_unavailable', message: 'The grant store is unavailable' });
}

function pingOutcome(store: RedisGrantStore): Promise<string> {
  return store.ping().then(
    () => 'up',
    (err: GatewayError) => err.code,
  );
}

/** Every method of the interface, each expected to fail closed while Redis is away. */
function everyOperation(store: RedisGrantStore): Array<Promise<unknown>> {
  return [
    store.recordGrant(grant()),
    store.revoke('some-jti', Date.now() + 60_000),
    store.isRevoked('some-jti'),
    store.activeGrants(),
    store.increment('grants:user:team-a:dr.jones', 3600),
    store.rememberPatient('patient-secret-42', 60),
    store.knowsPatient('patient-secret-42'),
    store.ping(),
  ];
}

describeWithService('RedisGrantStore against a real Redis', redis, () => {
  let admin: Redis;
  let opened: RedisGrantStore[] = [];
  let servers: ThrowawayRedis[] = [];
  let prefix = RUN_PREFIX;
  let testNumber = 0;

  const open = async (options: RedisStoreOptions = {}, url = REDIS_URL): Promise<RedisGrantStore> => {
    const store = await createRedisGrantStore({ url, keyPrefix: prefix }, options);
    opened.push(store);
    return store;
  };

  const startServer = async (): Promise<ThrowawayRedis> => {
    const server = await ThrowawayRedis.start();
    servers.push(server);
    return server;
  };

  beforeAll(() => {
    admin = new Redis(REDIS_URL);
  });

  afterEach(async () => {
    await Promise.all(opened.map((store) => store.close()));
    opened = [];
    await Promise.all(servers.map((server) => server.stop()));
    servers = [];
    prefix = `${RUN_PREFIX}${++testNumber}:`;
  });

  afterAll(async () => {
    const keys = await keysUnder(admin, RUN_PREFIX);
    if (keys.length > 0) await admin.del(...keys);
    await admin.quit();
  });

  it('lists recorded grants newest first, as recorded', async () => {
    const store = await open();
    const older = grant({ issuedAt: Date.now() - 2000 });
    const newest = grant({ issuedAt: Date.now(), reason: undefined, pkbId: 'patient-2' });
    const middle = grant({ issuedAt: Date.now() - 1000, teamId: 'team-b' });
    for (const g of [older, newest, middle]) await store.recordGrant(g);
    expect(await store.activeGrants()).toEqual([newest, middle, older]);
  });

  it('drops a grant from the listing and the index once its clock says it expired', async () => {
    let clock = Date.now();
    const store = await open({ now: () => clock });
    const g = grant({ issuedAt: clock, expiresAt: clock + 60_000 });
    await store.recordGrant(g);
    expect(await store.activeGrants()).toEqual([g]);
    clock += 60_000;
    expect(await store.activeGrants()).toEqual([]);
    expect(await admin.zscore(`${prefix}grants`, g.jti)).toBeNull();
  });

  it('lets Redis expire the grant record and the index with the token', async () => {
    const store = await open();
    const g = grant({ expiresAt: Date.now() + 300 });
    await store.recordGrant(g);
    expect(await admin.pttl(`${prefix}grants`)).toBeGreaterThan(0);
    await expect.poll(() => admin.exists(`${prefix}grant:${g.jti}`, `${prefix}grants`), { timeout: 5000 }).toBe(0);
    expect(await store.activeGrants()).toEqual([]);
  });

  it('keeps the index alive as long as its longest-lived grant', async () => {
    const store = await open();
    await store.recordGrant(grant({ expiresAt: Date.now() + 60_000 }));
    await store.recordGrant(grant({ expiresAt: Date.now() + 600_000 }));
    await store.recordGrant(grant({ expiresAt: Date.now() + 60_000 }));
    const ttl = await admin.pttl(`${prefix}grants`);
    expect(ttl).toBeGreaterThan(590_000);
    expect(ttl).toBeLessThanOrEqual(600_000);
  });

  it('shows a revocation to a second replica at once and removes the grant from the listing', async () => {
    const replicaA = await open();
    const replicaB = await open();
    const revoked = grant();
    const kept = grant();
    await replicaA.recordGrant(revoked);
    await replicaA.recordGrant(kept);
    expect(await replicaB.isRevoked(revoked.jti)).toBe(false);

    await replicaA.revoke(revoked.jti, revoked.expiresAt);

    expect(await replicaB.isRevoked(revoked.jti)).toBe(true);
    expect(await replicaB.isRevoked(kept.jti)).toBe(false);
    expect(await admin.zscore(`${prefix}grants`, revoked.jti)).toBeNull();
    expect(await replicaB.activeGrants()).toEqual([kept]);
    const ttl = await admin.pttl(`${prefix}revoked:${revoked.jti}`);
    expect(ttl).toBeGreaterThan(50_000);
    expect(ttl).toBeLessThanOrEqual(60_000);
  });

  it('forgets a revocation when the token would have expired anyway', async () => {
    const store = await open();
    await store.revoke('short-lived', Date.now() + 300);
    expect(await store.isRevoked('short-lived')).toBe(true);
    await expect.poll(() => store.isRevoked('short-lived'), { timeout: 5000 }).toBe(false);
  });

  it('counts atomically across replicas: 200 concurrent hits give each count 1..200 exactly once', async () => {
    const replicas = [await open(), await open()];
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => replicas[i % 2]!.increment('grants:team:team-a', 3600)));
    expect(results.map((r) => r.count).sort((a, b) => a - b)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    for (const { resetInSeconds } of results) {
      expect(resetInSeconds).toBeGreaterThan(3590);
      expect(resetInSeconds).toBeLessThanOrEqual(3600);
    }
    const ttl = await admin.pttl(`${prefix}counter:grants:team:team-a`);
    expect(ttl).toBeGreaterThan(3_590_000);
    expect(ttl).toBeLessThanOrEqual(3_600_000);
  });

  it('starts a new window when the old one expires', async () => {
    const store = await open();
    expect((await store.increment('k', 0.3)).count).toBe(1);
    expect((await store.increment('k', 0.3)).count).toBe(2);
    await expect.poll(() => admin.exists(`${prefix}counter:k`), { timeout: 5000 }).toBe(0);
    expect(await store.increment('k', 0.3)).toEqual({ count: 1, resetInSeconds: 1 });
  });

  it('gives a counter found without an expiry one, so it cannot live forever', async () => {
    const store = await open();
    await admin.set(`${prefix}counter:orphan`, '7');
    expect((await store.increment('orphan', 60)).count).toBe(8);
    expect(await admin.pttl(`${prefix}counter:orphan`)).toBeGreaterThan(0);
  });

  it('remembers a patient for every replica until the cache time runs out', async () => {
    const replicaA = await open();
    const replicaB = await open();
    expect(await replicaB.knowsPatient('patient-1')).toBe(false);
    await replicaA.rememberPatient('patient-1', 60);
    expect(await replicaB.knowsPatient('patient-1')).toBe(true);
    expect(await admin.pttl(`${prefix}patient:patient-1`)).toBeLessThanOrEqual(60_000);

    await replicaA.rememberPatient('patient-2', 0.3);
    expect(await replicaB.knowsPatient('patient-2')).toBe(true);
    await expect.poll(() => replicaB.knowsPatient('patient-2'), { timeout: 5000 }).toBe(false);

    await replicaA.rememberPatient('patient-3', 0);
    expect(await replicaB.knowsPatient('patient-3')).toBe(false);
  });

  it('leaves no key without an expiry', async () => {
    const store = await open();
    const [kept, revoked] = [grant(), grant()];
    await store.recordGrant(kept);
    await store.recordGrant(revoked);
    await store.revoke(revoked.jti, revoked.expiresAt);
    await store.revoke('never-recorded', Date.now() + 60_000);
    await store.increment('grants:user:team-a:dr.jones', 3600);
    await store.rememberPatient('patient-1', 300);
    await store.activeGrants();

    const keys = await keysUnder(admin, prefix);
    const expected = ['counter:grants:user:team-a:dr.jones', `grant:${kept.jti}`, 'grants', 'patient:patient-1', `revoked:${revoked.jti}`, 'revoked:never-recorded'];
    expect(keys.map((key) => key.slice(prefix.length)).sort()).toEqual(expected.sort());
    for (const key of keys) expect({ key, ttlPositive: (await admin.pttl(key)) > 0 }).toEqual({ key, ttlPositive: true });
  });

  it('answers ping while Redis is up', async () => {
    const store = await open();
    await expect(store.ping()).resolves.toBeUndefined();
  });

  it('fails closed at once when nothing listens, never logging patient ids', async () => {
    const logged: unknown[] = [];
    const record = (...args: unknown[]): void => void logged.push(args);
    const store = await open({ logger: { warn: record, info: record, debug: record } }, 'redis://127.0.0.1:1');
    for (const operation of everyOperation(store)) await expectUnavailable(operation);
    expect(logged.length).toBeGreaterThan(0);
    expect(JSON.stringify(logged)).not.toContain('patient-secret-42');
  });

  it('refuses rather than waits when Redis stops answering, and recovers when it answers again', async () => {
    const server = await startServer();
    const store = await open({}, server.url);
    const closing = await open({}, server.url);
    await expect(store.ping()).resolves.toBeUndefined();

    server.pause();
    await Promise.all(everyOperation(store).map(expectUnavailable));
    await expect(closing.close()).resolves.toBeUndefined();

    server.resume();
    await expect.poll(() => pingOutcome(store), { timeout: 10_000 }).toBe('up');
    expect(await store.knowsPatient('patient-1')).toBe(false);
  });

  it('refuses while its Redis is down and heals, same instance, when it returns', async () => {
    const server = await startServer();
    const store = await open({}, server.url);
    await store.recordGrant(grant());
    await expect(store.ping()).resolves.toBeUndefined();

    await server.stop();
    await expect.poll(() => pingOutcome(store)).toBe('store_unavailable');
    for (const operation of everyOperation(store)) await expectUnavailable(operation);

    await server.start();
    await expect.poll(() => pingOutcome(store), { timeout: 10_000 }).toBe('up');
    expect(await store.increment('after-outage', 60)).toEqual({ count: 1, resetInSeconds: 60 });
    expect(await store.isRevoked('some-jti')).toBe(false);
  });
});
