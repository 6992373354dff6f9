import { describe, expect, it } from 'vitest';
import { MemoryGrantStore } from '../../../src/store/memory-store.js';

/** A realistic epoch-ms clock start (lru-cache treats a start time of 0 as "no TTL"). */
const T0 = Date.UTC(2026, 11, 3);
const grant = (jti: string, issuedAt: number, expiresAt: number) => ({ jti, teamId: 't', userId: 'u', pkbId: 'p', issuedAt, expiresAt });

describe('MemoryGrantStore', () => {
  it('lists active grants newest first and forgets them at expiry', async () => {
    let now = T0;
    const store = new MemoryGrantStore(100, () => now);
    await store.recordGrant(grant('a', now, now + 1000));
    await store.recordGrant(grant('b', now + 1, now + 5000));
    expect((await store.activeGrants()).map((g) => g.jti)).toEqual(['b', 'a']);
    now += 1000;
    expect((await store.activeGrants()).map((g) => g.jti)).toEqual(['b']);
  });

  it('keeps a revocation until the token would have expired anyway', async () => {
    let now = T0;
    const store = new MemoryGrantStore(100, () => now);
    await store.recordGrant(grant('a', T0, T0 + 10_000));
    await store.revoke('a', T0 + 10_000);
    expect(await store.isRevoked('a')).toBe(true);
    expect(await store.activeGrants()).toEqual([]);
    now = T0 + 9_999;
    expect(await store.isRevoked('a')).toBe(true);
    now = T0 + 10_001;
    expect(await store.isRevoked('a')).toBe(false);
  });

  it('counts in fixed windows and tells when the window resets', async () => {
    let now = T0;
    const store = new MemoryGrantStore(100, () => now);
    expect(await store.increment('k', 3600)).toEqual({ count: 1, resetInSeconds: 3600 });
    now = T0 + 600_000;
    expect(await store.increment('k', 3600)).toEqual({ count: 2, resetInSeconds: 3000 });
    now = T0 + 3_600_000;
    expect(await store.increment('k', 3600)).toEqual({ count: 1, resetInSeconds: 3600 });
  });

  it('fails closed rather than evict a live grant (and with it the guarantee on revocations)', async () => {
    let now = T0;
    const store = new MemoryGrantStore(2, () => now);
    await store.recordGrant(grant('a', T0, T0 + 1000));
    await store.recordGrant(grant('b', T0, T0 + 1000));
    await expect(store.recordGrant(grant('c', T0, T0 + 1000))).rejects.toMatchObject({ status: 503, code: 'store_unavailable' });
    now = T0 + 1001;
    await expect(store.recordGrant(grant('c', now, now + 1000))).resolves.toBeUndefined();
  });

  it('remembers patients for the given time only', async () => {
    let now = T0;
    const store = new MemoryGrantStore(10, () => now);
    await store.rememberPatient('p', 30);
    expect(await store.knowsPatient('p')).toBe(true);
    now = T0 + 30_001;
    expect(await store.knowsPatient('p')).toBe(false);
    await store.rememberPatient('q', 0);
    expect(await store.knowsPatient('q')).toBe(false);
  });
});
