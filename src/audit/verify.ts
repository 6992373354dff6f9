import { orderByChain } from './audit-files.js';
import { GENESIS_HEAD, recordHash, type ChainHead } from './chain.js';
import { readLines } from './jsonl.js';
import { isRecordShape, parseRecordLine } from './record-line.js';
import type { AuditRecord } from './record.js';

export type VerifyProblem = 'edited' | 'missing' | 'reordered' | 'inserted' | 'malformed' | 'torn';

export type VerifyResult =
  | { ok: true; records: number; instances: string[]; warnings: string[] }
  | { ok: false; seq: number; problem: VerifyProblem; message: string; file?: string; line?: number };

export type VerifyFailure = Extract<VerifyResult, { ok: false }>;

interface Where {
  file?: string;
  line?: number;
}

/**
 * A record whose seq runs ahead of its chain. Whether records were deleted, moved or forged shows only
 * further on, so the verdict waits: `expected` turning up later means a move, unless nothing links to
 * the jumping record (a forgery of its own); never turning up means a deletion.
 */
interface Jump {
  instance: string;
  expected: number;
  jumper: AuditRecord;
  where: Where;
  expectedFound: boolean;
  jumperLinked: boolean;
}

/**
 * Checks records in file order, one chain per instance, keeping only each chain's head (and at most
 * one pending jump), so it runs over any amount of history in constant memory. The first problem wins.
 */
export class ChainVerifier {
  readonly #heads = new Map<string, ChainHead>();
  #records = 0;
  #lastSeq = 0;
  #jump: Jump | undefined;
  #failure: VerifyFailure | undefined;

  /** Feeds the next record (or raw line); returns the failure once one is certain. */
  push(item: AuditRecord | string, where: Where = {}): VerifyFailure | undefined {
    if (this.#failure) return this.#failure;
    const record = typeof item === 'string' ? parseRecordLine(item) : isRecordShape(item) ? item : undefined;
    if (this.#jump) return this.#watch(this.#jump, record);
    if (!record) return this.#fail(this.#lastSeq + 1, 'malformed', 'not an audit record', where);
    this.#lastSeq = record.seq;
    if (recordHash(record) !== record.hash) {
      return this.#fail(record.seq, 'edited', `seq ${record.seq} does not match its hash: its content was changed`, where);
    }
    return this.#link(record, where);
  }

  #link(record: AuditRecord, where: Where): VerifyFailure | undefined {
    const head = this.#heads.get(record.instance) ?? GENESIS_HEAD;
    const expected = head.seq + 1;
    if (record.seq < expected) {
      return this.#fail(record.seq, 'inserted', `seq ${record.seq} appears again after seq ${head.seq} (instance ${record.instance})`, where);
    }
    if (record.seq > expected) {
      this.#jump = { instance: record.instance, expected, jumper: record, where, expectedFound: false, jumperLinked: false };
      return undefined;
    }
    if (record.prevHash !== head.hash) {
      const previous = head.seq === 0 ? 'the start of the chain' : `seq ${head.seq}`;
      return this.#fail(record.seq, 'inserted', `seq ${record.seq} does not link to ${previous}: it was forged or put in place of the original`, where);
    }
    this.#heads.set(record.instance, { seq: record.seq, hash: record.hash });
    this.#records += 1;
    return undefined;
  }

  #watch(jump: Jump, record: AuditRecord | undefined): VerifyFailure | undefined {
    if (record?.instance !== jump.instance) return undefined;
    jump.expectedFound ||= record.seq === jump.expected;
    jump.jumperLinked ||= record.prevHash === jump.jumper.hash || record.hash === jump.jumper.prevHash;
    return jump.expectedFound && jump.jumperLinked ? this.#judge(jump) : undefined;
  }

  #judge(jump: Jump): VerifyFailure {
    const { expected, jumper, where, instance } = jump;
    if (!jump.expectedFound) {
      const range = jumper.seq - 1 > expected ? `seq ${expected}–${jumper.seq - 1}` : `seq ${expected}`;
      const hint = expected === 1 ? ' (verify the whole rotated set, oldest file included)' : '';
      return this.#fail(expected, 'missing', `${range} of instance ${instance} missing: seq ${jumper.seq} follows seq ${expected - 1}${hint}`, where);
    }
    if (jump.jumperLinked) {
      return this.#fail(expected, 'reordered', `seq ${expected} is out of order: seq ${jumper.seq} comes before it (instance ${instance})`, where);
    }
    return this.#fail(jumper.seq, 'inserted', `seq ${jumper.seq} after seq ${expected - 1} is not part of the chain (instance ${instance})`, where);
  }

  #fail(seq: number, problem: VerifyProblem, message: string, where: Where): VerifyFailure {
    this.#failure = { ok: false, seq, problem, message, ...where };
    return this.#failure;
  }

  /** Fails a record that cannot be a record at all, e.g. a torn line in an older file. */
  failAt(problem: VerifyProblem, message: string, where: Where): VerifyFailure {
    return this.#failure ?? this.#fail(this.#lastSeq + 1, problem, message, where);
  }

  finish(warnings: string[] = []): VerifyResult {
    if (this.#failure) return this.#failure;
    if (this.#jump) return this.#judge(this.#jump);
    return { ok: true, records: this.#records, instances: [...this.#heads.keys()].sort(), warnings };
  }
}

/** Verifies records (objects or JSON lines) given in chain order. */
export function verifyRecords(records: Iterable<AuditRecord | string>): VerifyResult {
  const verifier = new ChainVerifier();
  let line = 0;
  for (const record of records) {
    line += 1;
    if (verifier.push(record, { line })) break;
  }
  return verifier.finish();
}

/**
 * Verifies audit files streamed line by line: one file or a rotated set in any order. A line without
 * a newline at the very end of the newest file is a torn write the gateway never acknowledged (and
 * trims at start): a warning, not a failure.
 */
export async function verifyAuditFiles(paths: string[]): Promise<VerifyResult> {
  const verifier = new ChainVerifier();
  const warnings: string[] = [];
  const files = await orderByChain(paths);
  for (const [i, file] of files.entries()) {
    let line = 0;
    for await (const { text, terminated } of readLines(file)) {
      line += 1;
      const where = { file, line };
      if (!terminated && i === files.length - 1) {
        warnings.push(`${file}:${line}: torn last line, never acknowledged (the gateway trims it at start)`);
      } else if (!terminated) {
        return verifier.failAt('torn', 'a line without newline ends a file that is not the newest', where);
      } else if (verifier.push(text, where)) {
        break;
      }
    }
  }
  return verifier.finish(warnings);
}
