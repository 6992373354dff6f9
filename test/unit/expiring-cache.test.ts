import { describe, expect, it } from 'vitest';
import { ExpiringCache } from '../../src/expiring-cache.js';

describe('ExpiringCache', () => {
  it('answers until the deadline on the injected clock, and not from the deadline on', () => {
    let now = 1_000;
    const cache = new ExpiringCache<string>(10, () => now);
    cache.set('k', 'v', 1_500);
    now = 1_499;
    expect(cache.get('k')).toBe('v');
    now = 1_500;
    expect(cache.get('k')).toBeUndefined();
  });

  it('does not answer after the clock jumps past the deadline, however little real time passed', () => {
    let now = 0;
    const cache = new ExpiringCache<string>(10, () => now);
    cache.set('k', 'v', 60_000);
    now = 10 ** 12;
    expect(cache.get('k')).toBeUndefined();
  });

  it('stores nothing for a deadline already past', () => {
    const cache = new ExpiringCache<string>(10, () => 5_000);
    cache.set('k', 'v', 5_000);
    expect(cache.get('k')).toBeUndefined();
  });

  it('holds at most maxEntries, evicting the least recently used', () => {
    const cache = new ExpiringCache<number>(2, () => 0);
    cache.set('a', 1, 1_000);
    cache.set('b', 2, 1_000);
    cache.get('a');
    cache.set('c', 3, 1_000);
    expect([cache.get('a'), cache.get('b'), cache.get('c')]).toEqual([1, undefined, 3]);
  });
});
