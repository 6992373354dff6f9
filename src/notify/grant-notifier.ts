import type { GrantRecord } from '../store/grant-store.js';

export type GrantNotice = 'grant' | 'revoke';

/**
 * Tells the outside world (the patient's teams, the PKB GUI) that BTG access started or stopped.
 * `notify` never blocks or fails the request that triggered it: delivery is the notifier's problem.
 */
export interface GrantNotifier {
  notify(kind: GrantNotice, grant: GrantRecord): void;
  /** Waits for deliveries in flight (bounded), for graceful shutdown. */
  close(): Promise<void>;
}

export const silentNotifier: GrantNotifier = {
  notify() {},
  async close() {},
};
