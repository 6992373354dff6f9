import { LRUCache } from 'lru-cache';

interface Entry<V> {
  value: V;
  until: number;
}

/**
 * A bounded LRU whose entries each carry their own deadline (epoch ms on the injected clock).
 * The deadline is checked against `now()` on every read: the LRU's own TTL runs on a different clock
 * and only bounds memory, so a clock that jumps (or a slow TTL sweep) can never serve a stale entry.
 */
export class ExpiringCache<V> {
  readonly #entries: LRUCache<string, Entry<V>>;

  constructor(
    maxEntries: number,
    private readonly now: () => number,
  ) {
    this.#entries = new LRUCache<string, Entry<V>>({ max: maxEntries });
  }

  get(key: string): V | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.until <= this.now()) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  /** Keeps `value` until `until`; a deadline already past stores nothing. */
  set(key: string, value: V, until: number): void {
    const remaining = Math.floor(until - this.now());
    if (remaining <= 0) return;
    this.#entries.set(key, { value, until }, { ttl: remaining });
  }

  clear(): void {
    this.#entries.clear();
  }
}
