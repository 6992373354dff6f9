/** An issued BTG grant, as remembered for `GET /grants`, revocation and rate limiting. */
export interface GrantRecord {
  jti: string;
  teamId: string;
  userId: string;
  pkbId: string;
  reason?: string;
  /** Epoch milliseconds. */
  issuedAt: number;
  /** Epoch milliseconds. */
  expiresAt: number;
}

/**
 * Shared state of the gateway (SPEC section 9): memory for one process, Redis across replicas.
 * Every entry expires on its own (never later than the token it concerns), so the store cannot
 * grow without bound. Methods reject with GatewayError 503 `store_unavailable` when the backing
 * service cannot be reached; callers fail closed.
 */
export interface GrantStore {
  recordGrant(grant: GrantRecord): Promise<void>;
  /**
   * Marks the token revoked until `until` (epoch ms): the last instant verification would still
   * accept it (its exp plus the clock tolerance), after which it is refused as expired anyway.
   */
  revoke(jti: string, until: number): Promise<void>;
  isRevoked(jti: string): Promise<boolean>;
  /** Unexpired, unrevoked grants, newest first. */
  activeGrants(): Promise<GrantRecord[]>;
  /**
   * Adds one to a fixed-window counter and returns the new count with the seconds until the window
   * resets. Atomic across replicas.
   */
  increment(key: string, windowSeconds: number): Promise<{ count: number; resetInSeconds: number }>;
  /** Remembers that a patient exists upstream, to spare repeated lookups. */
  rememberPatient(pkbId: string, ttlSeconds: number): Promise<void>;
  knowsPatient(pkbId: string): Promise<boolean>;
  /** Resolves when the store is reachable; used by /readyz. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
