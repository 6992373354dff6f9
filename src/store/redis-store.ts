import { Redis } from 'ioredis';
import { GatewayError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { GrantRecord, GrantStore } from './grant-store.js';

export interface RedisStoreSettings {
  /** `redis://` or `rediss://` URL; may carry credentials, so it is never logged. */
  url: string;
  keyPrefix: string;
}

export interface RedisStoreOptions {
  now?: () => number;
  logger?: Pick<Logger, 'warn' | 'info' | 'debug'>;
}

/** Fail fast: a request waits at most about this long for Redis before it is refused. */
const COMMAND_TIMEOUT_MS = 1000;
const CONNECT_TIMEOUT_MS = 1000;
const MAX_RECONNECT_DELAY_MS = 2000;
/** Keeps one MGET from stalling Redis when many grants are active. */
const MGET_CHUNK = 500;

/**
 * The counter gets its expiry in the same atomic step as its first hit, and any counter found
 * without one is repaired, so a crash between commands can never leave a counter that lives forever.
 */
const INCREMENT_LUA = `
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  ttl = tonumber(ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return {count, ttl}`;

/** The index lives at least as long as its longest-lived member, and never forever. */
const RECORD_GRANT_LUA = `
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[2]) then
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
end
return 1`;

type ScriptedRedis = Redis & {
  btgIncrement(counterKey: string, windowMs: number): Promise<[number, number]>;
  btgRecordGrant(grantKey: string, indexKey: string, json: string, ttlMs: number, expiresAt: number, jti: string): Promise<number>;
};

/**
 * Shared store for replicas (SPEC 9). Every key carries a TTL no later than the token it concerns.
 * Fails closed and fast: while Redis is unreachable every method rejects with 503
 * `store_unavailable` at once (no offline queue, no resend), and ioredis keeps reconnecting in the
 * background so the same instance heals when Redis returns.
 *
 * Keys under `keyPrefix`: `grant:<jti>` (JSON record), `grants` (sorted set of jtis scored by
 * expiresAt), `revoked:<jti>`, `counter:<key>`, `patient:<pkbId>`.
 */
export class RedisGrantStore implements GrantStore {
  private readonly client: ScriptedRedis;
  private readonly prefix: string;
  private readonly now: () => number;
  private readonly logger: RedisStoreOptions['logger'];
  private reachable: boolean | undefined;

  constructor(settings: RedisStoreSettings, options: RedisStoreOptions = {}) {
    this.now = options.now ?? Date.now;
    this.logger = options.logger;
    this.prefix = settings.keyPrefix;
    this.client = new Redis(settings.url, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: COMMAND_TIMEOUT_MS,
      connectTimeout: CONNECT_TIMEOUT_MS,
      retryStrategy: (attempt) => Math.min(attempt * 100, MAX_RECONNECT_DELAY_MS),
      scripts: {
        btgIncrement: { lua: INCREMENT_LUA, numberOfKeys: 1 },
        btgRecordGrant: { lua: RECORD_GRANT_LUA, numberOfKeys: 2 },
      },
    }) as ScriptedRedis;
    this.client.on('ready', () => this.markReachable(true));
    this.client.on('error', (err: NodeJS.ErrnoException) => this.markReachable(false, err));
  }

  /**
   * Resolves true once Redis is ready, false on the first failed attempt or after `timeoutMs`.
   * Never rejects: an unreachable store must not stop the gateway from starting.
   */
  waitUntilReachable(timeoutMs: number): Promise<boolean> {
    if (this.client.status === 'ready') return Promise.resolve(true);
    return new Promise((resolve) => {
      const settle = (ok: boolean): void => {
        clearTimeout(timer);
        this.client.off('ready', onReady).off('error', onError).off('end', onError);
        resolve(ok);
      };
      const onReady = (): void => settle(true);
      const onError = (): void => settle(false);
      const timer = setTimeout(onError, timeoutMs);
      this.client.once('ready', onReady).once('error', onError).once('end', onError);
    });
  }

  recordGrant(grant: GrantRecord): Promise<void> {
    return this.run('recordGrant', async () => {
      const { jti, expiresAt } = grant;
      await this.client.btgRecordGrant(this.key('grant', jti), this.indexKey(), JSON.stringify(grant), this.remaining(expiresAt), expiresAt, jti);
    });
  }

  revoke(jti: string, until: number): Promise<void> {
    return this.run('revoke', async () => {
      const results = await this.client
        .multi()
        .set(this.key('revoked', jti), '1', 'PX', this.remaining(until))
        .zrem(this.indexKey(), jti)
        .del(this.key('grant', jti))
        .exec();
      throwFirstError(results);
    });
  }

  isRevoked(jti: string): Promise<boolean> {
    return this.run('isRevoked', async () => (await this.client.exists(this.key('revoked', jti))) === 1);
  }

  activeGrants(): Promise<GrantRecord[]> {
    return this.run('activeGrants', async () => {
      const now = this.now();
      const jtis = await this.pruneAndListIndex(now);
      const grants: GrantRecord[] = [];
      const vanished: string[] = [];
      for (let i = 0; i < jtis.length; i += MGET_CHUNK) {
        const chunk = jtis.slice(i, i + MGET_CHUNK);
        const values = await this.client.mget(chunk.map((jti) => this.key('grant', jti)));
        values.forEach((value, j) => {
          if (value === null) vanished.push(chunk[j]!);
          else grants.push(JSON.parse(value) as GrantRecord);
        });
      }
      if (vanished.length > 0) await this.client.zrem(this.indexKey(), ...vanished);
      return grants.filter((grant) => grant.expiresAt > now).sort((a, b) => b.issuedAt - a.issuedAt);
    });
  }

  increment(key: string, windowSeconds: number): Promise<{ count: number; resetInSeconds: number }> {
    return this.run('increment', async () => {
      const [count, ttlMs] = await this.client.btgIncrement(this.key('counter', key), Math.max(1, Math.round(windowSeconds * 1000)));
      return { count, resetInSeconds: Math.ceil(ttlMs / 1000) };
    });
  }

  rememberPatient(pkbId: string, ttlSeconds: number): Promise<void> {
    return this.run('rememberPatient', async () => {
      const ttlMs = Math.round(ttlSeconds * 1000);
      if (ttlMs > 0) await this.client.set(this.key('patient', pkbId), '1', 'PX', ttlMs);
    });
  }

  knowsPatient(pkbId: string): Promise<boolean> {
    return this.run('knowsPatient', async () => (await this.client.exists(this.key('patient', pkbId))) === 1);
  }

  ping(): Promise<void> {
    return this.run('ping', async () => {
      await this.client.ping();
    });
  }

  /** QUIT lets replies in flight arrive; when it cannot be sent or times out, drop the socket. */
  async close(): Promise<void> {
    await this.client.quit().then(
      () => undefined,
      () => this.client.disconnect(),
    );
  }

  private async pruneAndListIndex(now: number): Promise<string[]> {
    const results = await this.client.multi().zremrangebyscore(this.indexKey(), '-inf', now).zrange(this.indexKey(), 0, -1).exec();
    throwFirstError(results);
    return results![1]![1] as string[];
  }

  /** Every failure, whatever its cause, is the same 503 to the caller: fail closed. */
  private async run<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      this.logger?.debug({ operation, err: errorSummary(err) }, 'grant store operation failed');
      throw new GatewayError(503, 'store_unavailable', 'The grant store is unavailable', {}, { cause: err });
    }
  }

  /** Logs outages and recoveries once each, not every reconnect attempt. */
  private markReachable(reachable: boolean, err?: NodeJS.ErrnoException): void {
    if (this.reachable === reachable) return;
    this.reachable = reachable;
    if (reachable) this.logger?.info('grant store (Redis) reachable');
    else this.logger?.warn({ err: errorSummary(err) }, 'grant store (Redis) unreachable: BTG grants and BTG access fail closed until it returns');
  }

  private key(kind: string, id: string): string {
    return `${this.prefix}${kind}:${id}`;
  }

  private indexKey(): string {
    return `${this.prefix}grants`;
  }

  private remaining(expiresAt: number): number {
    return Math.max(1, Math.ceil(expiresAt - this.now()));
  }
}

/**
 * Creates the store and gives Redis a moment to answer. Resolves even when Redis is down, so the
 * gateway still starts (pass-through works, BTG fails closed, /readyz reports it) and heals later.
 */
export async function createRedisGrantStore(settings: RedisStoreSettings, options: RedisStoreOptions = {}): Promise<RedisGrantStore> {
  const store = new RedisGrantStore(settings, options);
  await store.waitUntilReachable(CONNECT_TIMEOUT_MS + 500);
  return store;
}

function throwFirstError(results: Array<[Error | null, unknown]> | null): void {
  if (results === null) throw new Error('transaction aborted');
  const failed = results.find(([err]) => err !== null);
  if (failed) throw failed[0];
}

/** Name and code only: messages of reply errors may quote arguments, and arguments hold patient ids. */
function errorSummary(err: unknown): { name: string; code?: string } {
  if (!(err instanceof Error)) return { name: typeof err };
  const code = (err as NodeJS.ErrnoException).code;
  return code === undefined ? { name: err.name } : { name: err.name, code };
}
