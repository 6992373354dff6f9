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
  return hashOf(record.prevHash, canonicalize(unhashed));
}

function hashOf(prevHash: string, canonical: string): string {
  return digest('sha256', prevHash + canonical, 'hex');
}

/** A linked batch with each record's JSON line (its canonical form with `hash` appended). */
export interface LinkedBatch {
  records: AuditRecord[];
  /** One JSON object per record, newline-terminated (JSON escapes newlines inside strings). */
  lines: string[];
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
    return this.linkWithLines(drafts).records;
  }

  /**
   * `link`, plus each record's line for a JSON-lines sink: the canonical text the hash was computed
   * over, with `hash` appended, so no record is serialised twice (this runs twice per BTG request).
   */
  linkWithLines(drafts: readonly AuditDraft[]): LinkedBatch {
    let { seq, hash } = this.#head;
    const records: AuditRecord[] = [];
    const lines: string[] = [];
    for (const draft of drafts) {
      seq += 1;
      const unhashed = { ...draft, seq, prevHash: hash };
      const canonical = canonicalize(unhashed);
      hash = hashOf(unhashed.prevHash, canonical);
      records.push({ ...unhashed, hash });
      lines.push(`${canonical.slice(0, -1)},"hash":"${hash}"}\n`);
    }
    return { records, lines };
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
