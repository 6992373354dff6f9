import { hash, randomUUID } from 'node:crypto';
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { readFully, readLines, writeFully } from './jsonl.js';
import { parseRecordLine } from './record-line.js';

/**
 * The query index beside one audit file (`<file>.idx`): it finds a patient's records without
 * reading the audit file and without holding history in memory. It is derived data: never fsync'd,
 * validated against its audit file on open and rebuilt from it when missing, short or wrong.
 *
 * Layout (little-endian):
 *   header  32 bytes  "BTGIDX01", u32 bucket count, zero padding
 *   entry   32 bytes  key (8: SHA-256 prefix of a patient id), record byte offset (f64),
 *                     record time in epoch ms (f64), record bytes incl. newline (u32),
 *                     previous entry (1-based) in the same bucket, 0 = none (u32)
 *   footer  only on a rotated (sealed) file: bucket heads (u32 each, 1-based entry numbers),
 *           then a 32-byte trailer "BTGSEAL1", entry count (f64), audit file size (f64), max time (f64)
 *
 * Every record yields one entry per distinct patient id (`pkbId`, `tokenPkbId`), or one marker entry
 * (key of zeros, never linked) when it has none, so the last entry always tells how many audit bytes
 * are indexed. Entries of one bucket form a newest-first linked list, so a query walks about
 * entries/buckets entries per file: with 65 536 buckets a 1 GB file (~2 M records) gives ~30 steps.
 * Memory: the bucket heads of the file being written (256 KiB); sealed files keep theirs on disk.
 */

const INDEX_BUCKETS = 1 << 16;
const HEADER_BYTES = 32;
const ENTRY_BYTES = 32;
const TRAILER_BYTES = 32;
const HEADS_BYTES = INDEX_BUCKETS * 4;
const MAGIC = 'BTGIDX01';
const SEAL = 'BTGSEAL1';
const MARKER_KEY = Buffer.alloc(8);
const SCAN_ENTRIES = 65_536;
const CATCH_UP_LINES = 10_000;

/** What the index needs of a record. */
export interface IndexedRecord {
  pkbId?: string;
  tokenPkbId?: string;
  time: string;
}

/** A record located in its audit file; `record` undefined for an unparsable line. */
export interface LocatedRecord {
  record: IndexedRecord | undefined;
  offset: number;
  bytes: number;
}

interface IndexEntry {
  key: Buffer;
  offset: number;
  time: number;
  bytes: number;
  prev: number;
}

export function patientKey(pkbId: string): Buffer {
  return hash('sha256', pkbId, 'buffer').subarray(0, 8);
}

function bucketOf(key: Buffer): number {
  return key.readUInt16LE(0);
}

function keysOf(record: IndexedRecord | undefined): Buffer[] {
  const ids = new Set([record?.pkbId, record?.tokenPkbId].filter((id): id is string => typeof id === 'string'));
  return ids.size ? [...ids].map(patientKey) : [MARKER_KEY];
}

function entryPosition(entryNumber: number): number {
  return HEADER_BYTES + (entryNumber - 1) * ENTRY_BYTES;
}

function encodeEntry(entry: IndexEntry, target: Buffer, at: number): void {
  entry.key.copy(target, at);
  target.writeDoubleLE(entry.offset, at + 8);
  target.writeDoubleLE(entry.time, at + 16);
  target.writeUInt32LE(entry.bytes, at + 24);
  target.writeUInt32LE(entry.prev, at + 28);
}

function decodeEntry(source: Buffer, at: number): IndexEntry {
  return {
    key: Buffer.from(source.subarray(at, at + 8)),
    offset: source.readDoubleLE(at + 8),
    time: source.readDoubleLE(at + 16),
    bytes: source.readUInt32LE(at + 24),
    prev: source.readUInt32LE(at + 28),
  };
}

function header(): Buffer {
  const buffer = Buffer.alloc(HEADER_BYTES);
  buffer.write(MAGIC, 0, 'latin1');
  buffer.writeUInt32LE(INDEX_BUCKETS, 8);
  return buffer;
}

function timeOf(record: IndexedRecord | undefined): number {
  const time = record ? Date.parse(record.time) : Number.NaN;
  return Number.isNaN(time) ? -Infinity : time;
}

interface Trailer {
  count: number;
  auditSize: number;
  maxTime: number;
}

async function readTrailer(handle: FileHandle, size: number): Promise<Trailer | undefined> {
  if (size < HEADER_BYTES + HEADS_BYTES + TRAILER_BYTES) return undefined;
  const buffer = Buffer.alloc(TRAILER_BYTES);
  await readFully(handle, buffer, size - TRAILER_BYTES);
  if (buffer.toString('latin1', 0, 8) !== SEAL) return undefined;
  const trailer = { count: buffer.readDoubleLE(8), auditSize: buffer.readDoubleLE(16), maxTime: buffer.readDoubleLE(24) };
  const expected = HEADER_BYTES + trailer.count * ENTRY_BYTES + HEADS_BYTES + TRAILER_BYTES;
  return Number.isSafeInteger(trailer.count) && expected === size ? trailer : undefined;
}

async function hasValidHeader(handle: FileHandle, size: number): Promise<boolean> {
  if (size < HEADER_BYTES) return false;
  const buffer = Buffer.alloc(HEADER_BYTES);
  await readFully(handle, buffer, 0);
  return buffer.equals(header());
}

/** The index of the audit file being appended to. */
export class LiveIndex {
  readonly heads = new Uint32Array(INDEX_BUCKETS);
  count = 0;
  maxTime = -Infinity;
  /** Audit bytes covered by entries. */
  covered = 0;
  /** True when an index write failed; `catchUp` repairs it from the audit file. */
  stale = false;
  #last: IndexEntry | undefined;

  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
  ) {}

  /** Opens (or creates) the index, drops what its audit file does not back, indexes what is missing. */
  static async load(path: string, auditPath: string, auditSize: number): Promise<LiveIndex> {
    const handle = await open(path, 'a+');
    const index = new LiveIndex(path, handle);
    try {
      if (!(await index.#restore(auditPath, auditSize))) await index.#reset();
      await index.catchUp(auditPath, auditSize);
    } catch (err) {
      await handle.close().catch(() => undefined);
      throw err;
    }
    return index;
  }

  async #restore(auditPath: string, auditSize: number): Promise<boolean> {
    const size = (await this.handle.stat()).size;
    if (!(await hasValidHeader(this.handle, size))) return false;
    const trailer = await readTrailer(this.handle, size);
    const stored = trailer ? trailer.count : Math.floor((size - HEADER_BYTES) / ENTRY_BYTES);
    if (!(await this.#scan(stored, auditSize))) return false;
    if (this.#last && !(await lastEntryMatches(auditPath, this.#last))) return false;
    await this.handle.truncate(entryPosition(this.count + 1));
    return true;
  }

  /** Rebuilds the in-memory state from stored entries, keeping those the audit file backs. */
  async #scan(stored: number, auditSize: number): Promise<boolean> {
    const block = Buffer.alloc(SCAN_ENTRIES * ENTRY_BYTES);
    for (let first = 1; first <= stored; first += SCAN_ENTRIES) {
      const entries = Math.min(SCAN_ENTRIES, stored - first + 1);
      await readFully(this.handle, block.subarray(0, entries * ENTRY_BYTES), entryPosition(first));
      for (let i = 0; i < entries; i += 1) {
        const entry = decodeEntry(block, i * ENTRY_BYTES);
        if (entry.offset + entry.bytes > auditSize) return true;
        if (!this.#follows(entry) || entry.prev >= first + i) return false;
        this.#take(entry);
      }
    }
    return true;
  }

  /** Entries are contiguous: another patient of the same record, or the line right after it. */
  #follows(entry: IndexEntry): boolean {
    return entry.offset === this.covered || (this.#last !== undefined && entry.offset === this.#last.offset);
  }

  #take(entry: IndexEntry): void {
    this.count += 1;
    if (!entry.key.equals(MARKER_KEY)) this.heads[bucketOf(entry.key)] = this.count;
    this.maxTime = Math.max(this.maxTime, entry.time);
    this.covered = entry.offset + entry.bytes;
    this.#last = entry;
  }

  async #reset(): Promise<void> {
    await this.handle.truncate(0);
    await writeFully(this.handle, header());
    this.heads.fill(0);
    this.count = 0;
    this.maxTime = -Infinity;
    this.covered = 0;
    this.#last = undefined;
  }

  /** Indexes records already in the audit file (one batch write of entries). */
  async append(records: readonly LocatedRecord[]): Promise<void> {
    const pending = new Map<number, number>();
    const entries: IndexEntry[] = [];
    for (const { record, offset, bytes } of records) {
      for (const key of keysOf(record)) {
        const marker = key.equals(MARKER_KEY);
        const bucket = bucketOf(key);
        const prev = marker ? 0 : (pending.get(bucket) ?? this.heads[bucket] ?? 0);
        entries.push({ key, offset, time: timeOf(record), bytes, prev });
        if (!marker) pending.set(bucket, this.count + entries.length);
      }
    }
    const buffer = Buffer.alloc(entries.length * ENTRY_BYTES);
    entries.forEach((entry, i) => encodeEntry(entry, buffer, i * ENTRY_BYTES));
    try {
      await writeFully(this.handle, buffer);
    } catch (err) {
      this.stale = true;
      await this.handle.truncate(entryPosition(this.count + 1)).catch(() => undefined);
      throw err;
    }
    for (const entry of entries) this.#take(entry);
  }

  /** Indexes the audit file's complete lines from `covered` up to `auditSize`. */
  async catchUp(auditPath: string, auditSize: number): Promise<void> {
    let batch: LocatedRecord[] = [];
    if (this.covered < auditSize) {
      for await (const line of readLines(auditPath, this.covered)) {
        if (!line.terminated || line.offset + line.bytes > auditSize) break;
        batch.push({ record: parseRecordLine(line.text), offset: line.offset, bytes: line.bytes });
        if (batch.length === CATCH_UP_LINES) {
          await this.append(batch);
          batch = [];
        }
      }
    }
    if (batch.length) await this.append(batch);
    this.stale = false;
  }

  /** Writes the footer that makes this index usable without loading it; closes it. */
  async seal(auditSize: number): Promise<void> {
    if (this.stale || this.covered !== auditSize) {
      await this.close();
      throw new Error(`${this.path} does not cover its audit file; not sealed`);
    }
    const footer = Buffer.alloc(HEADS_BYTES + TRAILER_BYTES);
    this.heads.forEach((head, bucket) => footer.writeUInt32LE(head, bucket * 4));
    footer.write(SEAL, HEADS_BYTES, 'latin1');
    footer.writeDoubleLE(this.count, HEADS_BYTES + 8);
    footer.writeDoubleLE(auditSize, HEADS_BYTES + 16);
    footer.writeDoubleLE(this.maxTime, HEADS_BYTES + 24);
    try {
      await writeFully(this.handle, footer);
    } finally {
      await this.close();
    }
  }

  async close(): Promise<void> {
    await this.handle.close().catch(() => undefined);
  }
}

/** Guards against an index left beside a different audit file: its last entry must locate a matching record. */
async function lastEntryMatches(auditPath: string, entry: IndexEntry): Promise<boolean> {
  const handle = await open(auditPath, 'r');
  try {
    const line = Buffer.alloc(entry.bytes);
    if ((await readFully(handle, line, entry.offset)) !== entry.bytes || line.at(-1) !== 0x0a) return false;
    const record = parseRecordLine(line.toString('utf8', 0, entry.bytes - 1));
    return keysOf(record).some((key) => key.equals(entry.key));
  } finally {
    await handle.close();
  }
}

/**
 * Builds the sealed index of a rotated audit file from scratch. It is built under a temporary name
 * and renamed into place, so a query never sees it half-built and two builders cannot mix.
 */
export async function rebuildSealedIndex(path: string, auditPath: string, auditSize: number): Promise<void> {
  const building = `${path}.${randomUUID()}.idx`;
  try {
    await (await LiveIndex.load(building, auditPath, auditSize)).seal(auditSize);
    await rename(building, path);
  } finally {
    await rm(building, { force: true });
  }
}

/** True when `path` is a sealed index that matches an audit file of `auditSize` bytes. */
export async function isSealed(path: string, auditSize: number): Promise<boolean> {
  try {
    const reader = await IndexReader.openSealed(path, auditSize);
    await reader?.close();
    return reader !== undefined;
  } catch {
    return false;
  }
}

/** Read side of one index file, for queries. */
export class IndexReader {
  private constructor(
    private readonly handle: FileHandle,
    readonly count: number,
    readonly maxTime: number,
    private readonly headOf: (bucket: number) => Promise<number>,
  ) {}

  /** A sealed index, or undefined when it is missing, unsealed or does not match its audit file. */
  static async openSealed(path: string, auditSize: number): Promise<IndexReader | undefined> {
    let handle: FileHandle;
    try {
      handle = await open(path, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    const { size } = await handle.stat();
    const trailer = await readTrailer(handle, size).catch(() => undefined);
    if (!trailer || trailer.auditSize !== auditSize) {
      await handle.close();
      return undefined;
    }
    const headsAt = HEADER_BYTES + trailer.count * ENTRY_BYTES;
    const headOf = async (bucket: number): Promise<number> => {
      const buffer = Buffer.alloc(4);
      await readFully(handle, buffer, headsAt + bucket * 4);
      return buffer.readUInt32LE(0);
    };
    return new IndexReader(handle, trailer.count, trailer.maxTime, headOf);
  }

  /** The live index's file, walked from heads captured now (entries they reach are already written). */
  static async openLive(index: LiveIndex): Promise<IndexReader> {
    const heads = Uint32Array.from(index.heads);
    const handle = await open(index.path, 'r');
    return new IndexReader(handle, index.count, index.maxTime, async (bucket) => heads[bucket] ?? 0);
  }

  /** Entries of `key`, newest first. */
  async *entries(key: Buffer): AsyncGenerator<IndexEntry> {
    const buffer = Buffer.alloc(ENTRY_BYTES);
    let next = await this.headOf(bucketOf(key));
    while (next > 0 && next <= this.count) {
      if ((await readFully(this.handle, buffer, entryPosition(next))) < ENTRY_BYTES) return;
      const entry = decodeEntry(buffer, 0);
      if (entry.key.equals(key)) yield entry;
      // A well-formed list only points backwards; anything else is damage, never a loop.
      if (entry.prev >= next) return;
      next = entry.prev;
    }
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}
