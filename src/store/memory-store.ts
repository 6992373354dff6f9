import { LRUCache } from 'lru-cache';
import { GatewayError } from '../errors.js';
import type { GrantRecord, GrantStore } from './grant-store.js';

interface StoredGrant {
  grant: GrantRecord;
  revoked: boolean;
}

interface Counter {
  count: number;
  resetAt: number;
}

/**
 * Single-process store. Every map is an LRU with per-entry TTLs, so memory is bounded by
 * `maxEntries`. A revocation must never be evicted while its token lives, so the store refuses a
 * new grant (fail closed) when `maxEntries` unexpired grants exist: every revocable token was a
 * recorded grant, so live revocations can then never outnumber the cache.
 */
export class MemoryGrantStore implements GrantStore {
  private readonly grants: LRUCache<string, StoredGrant>;
  private readonly revoked: LRUCache<string, true>;
  private readonly counters: LRUCache<string, Counter>;
  private readonly patients: LRUCache<string, true>;

  constructor(
    maxEntries: number,
    private readonly now: () => number = Date.now,
  ) {
    // ttlResolution 0: read the clock on every check, so an expiry is exact (and a test clock is obeyed).
    const options = { max: maxEntries, ttlAutopurge: false, ttlResolution: 0, perf: { now } };
    this.grants = new LRUCache<string, StoredGrant>(options);
    this.revoked = new LRUCache<string, true>(options);
    this.counters = new LRUCache<string, Counter>(options);
    this.patients = new LRUCache<string, true>(options);
  }

  async recordGrant(grant: GrantRecord): Promise<void> {
    if (this.grants.size >= this.grants.max) this.grants.purgeStale();
    if (this.grants.size >= this.grants.max) {
      throw new GatewayError(503, 'store_unavailable', 'The grant store is full');
    }
    this.grants.set(grant.jti, { grant, revoked: false }, { ttl: this.remaining(grant.expiresAt) });
  }

  async revoke(jti: string, until: number): Promise<void> {
    this.revoked.set(jti, true, { ttl: this.remaining(until) });
    // The listing keeps it (hidden from activeGrants) so the full-store guard above still counts it.
    const stored = this.grants.get(jti);
    if (stored) stored.revoked = true;
  }

  async isRevoked(jti: string): Promise<boolean> {
    return this.revoked.get(jti) === true;
  }

  async activeGrants(): Promise<GrantRecord[]> {
    const now = this.now();
    return [...this.grants.values()]
      .filter(({ grant, revoked }) => !revoked && grant.expiresAt > now)
      .map(({ grant }) => grant)
      .sort((a, b) => b.issuedAt - a.issuedAt);
  }

  async increment(key: string, windowSeconds: number): Promise<{ count: number; resetInSeconds: number }> {
    const now = this.now();
    const current = this.counters.get(key);
    const counter = current && current.resetAt > now ? current : { count: 0, resetAt: now + windowSeconds * 1000 };
    counter.count += 1;
    this.counters.set(key, counter, { ttl: counter.resetAt - now });
    return { count: counter.count, resetInSeconds: Math.ceil((counter.resetAt - now) / 1000) };
  }

  async rememberPatient(pkbId: string, ttlSeconds: number): Promise<void> {
    if (ttlSeconds > 0) this.patients.set(pkbId, true, { ttl: ttlSeconds * 1000 });
  }

  async knowsPatient(pkbId: string): Promise<boolean> {
    return this.patients.get(pkbId) === true;
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    this.grants.clear();
    this.revoked.clear();
    this.counters.clear();
    this.patients.clear();
  }

  private remaining(expiresAt: number): number {
    return Math.max(1, expiresAt - this.now());
  }
}
