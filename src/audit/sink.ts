import type { AuditDraft, AuditRecord } from './record.js';

/**
 * One destination of the audit trail. Each sink keeps its own hash chain for this instance, so a
 * sink's records verify on their own and one sink's outage never leaves a gap in another's chain.
 */
export interface AuditSink {
  /** `file`, `stdout`, `postgres`: the `sink` label of btg_audit_failures_total. */
  readonly name: string;
  /** Reads back the chain head (last seq and hash) so numbering continues across restarts. */
  open(): Promise<void>;
  /**
   * Chains and writes the drafts, in order, all or nothing. Resolves only when they are durable
   * (file: written and fsync'd; PostgreSQL: committed). On failure nothing of the batch stays
   * and the chain head is unchanged.
   */
  append(drafts: readonly AuditDraft[]): Promise<AuditRecord[]>;
  /** Resolves when the sink could take a write now; used by /readyz. */
  check(): Promise<void>;
  close(): Promise<void>;
}

/** Query side of a sink, for `GET /audit`. */
export interface AuditQuery {
  pkbId: string;
  /** Epoch milliseconds; only records at or after this time. */
  since?: number;
  limit: number;
}

export interface AuditReader {
  /** A patient's BTG records, newest first, at most `limit`, without scanning unbounded history. */
  query(query: AuditQuery): Promise<AuditRecord[]>;
}

/** What a caller hands to the audit trail; the trail stamps `id`, `time` and `instance`. */
export type AuditEntry = Omit<AuditDraft, 'id' | 'time' | 'instance'>;

/**
 * The audit trail as the request handlers see it. `write` resolves once the record is durable in
 * every sink and rejects with GatewayError 503 `audit_unavailable` otherwise.
 */
export interface AuditWriter {
  write(entry: AuditEntry): Promise<void>;
}
