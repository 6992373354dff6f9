import { hash as digest } from 'node:crypto';
import { canonicalize } from './jcs.js';
import { GENESIS_HASH, type AuditDraft, type AuditRecord } from './record.js';

export interface ChainHead {
  /** Seq of the last record in the chain; 0 before the first. */
  readonly seq: number;
  readonly hash: string;
}

export const GENESIS_HEAD: ChainHead = { seq: 0, hash: GENESIS_HASH };

/** SPEC 6: lowercase hex SHA-256 of `prevHash + JCS(record without hash)`. */
export function recordHash(record: Omit<AuditRecord, 'hash'> & { hash?: string }): string {
  const { hash: _ignored, ...unhashed } = record;
  return digest('sha256', record.prevHash + canonicalize(unhashed), 'hex');
}

/**
 * One instance's hash chain as one sink sees it. Linking is separate from advancing so a sink can
 * compute a batch, try to make it durable, and move the head only once it is.
 */
export class HashChain {
  #head: ChainHead;

  constructor(head: ChainHead = GENESIS_HEAD) {
    this.#head = head;
  }

  get head(): ChainHead {
    return this.#head;
  }

  /** Chains the drafts after the current head without moving it. */
  link(drafts: readonly AuditDraft[]): AuditRecord[] {
    let { seq, hash } = this.#head;
    return drafts.map((draft) => {
      seq += 1;
      // Key order only matters to a human reading the file (the hash is over the canonical form).
      const { id, time, instance, ...rest } = draft;
      const unhashed = { id, seq, time, instance, ...rest, prevHash: hash };
      hash = recordHash(unhashed);
      return { ...unhashed, hash };
    });
  }

  /** Commits a linked batch: call only after it is durable. */
  advance(records: readonly AuditRecord[]): void {
    const first = records[0];
    const last = records.at(-1);
    if (!first || !last) return;
    if (first.prevHash !== this.#head.hash) throw new Error('audit chain: batch was not linked to the current head');
    this.#head = { seq: last.seq, hash: last.hash };
  }

  /** Replaces the head, e.g. after re-reading the sink's storage. */
  reset(head: ChainHead): void {
    this.#head = head;
  }
}
