import type { GatewayConfig } from '../config/schema.js';
import type { Logger } from '../logger.js';
import type { GrantStore } from './grant-store.js';
import { MemoryGrantStore } from './memory-store.js';
import { createRedisGrantStore } from './redis-store.js';

/** The configured store. Redis being down at start-up does not stop the gateway: BTG fails closed until it returns. */
export async function createGrantStore(settings: GatewayConfig['store'], options: { now: () => number; logger: Logger }): Promise<GrantStore> {
  switch (settings.type) {
    case 'memory':
      return new MemoryGrantStore(settings.maxEntries, options.now);
    case 'redis':
      return createRedisGrantStore({ url: settings.url, keyPrefix: settings.keyPrefix }, options);
  }
}
