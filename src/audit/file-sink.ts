import { constants } from 'node:fs';
import { access, mkdir, open, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Logger } from '../logger.js';
import { indexPath, listRotated, rotatedPath } from './audit-files.js';
import { GENESIS_HEAD, HashChain, type ChainHead } from './chain.js';
import { IndexReader, LiveIndex, isSealed, patientKey, rebuildSealedIndex, type LocatedRecord } from './file-index.js';
import { lastRecordOf, trimTornTail } from './file-recovery.js';
import { readFully, writeFully } from './jsonl.js';
import { parseRecordLine } from './record-line.js';
import { Serial } from './serial.js';
import type { AuditDraft, AuditRecord } from './record.js';
import type { AuditQuery, AuditReader, AuditSink } from './sink.js';

export interface FileAuditSinkOptions {
  /** The file being written; rotated files sit beside it (see audit-files.ts). */
  path: string;
  /** This replica's chain name: the head is this instance's last record in the files. */
  instance: string;
  /** Rotate before a batch would grow the current file past this size. */
  maxBytes?: number;
  logger?: Logger;
}

interface OpenFile {
  handle: FileHandle;
  size: number;
  dev: number;
  ino: number;
  /** Undefined when the index could not be opened; appends retry, queries fail. */
  index: LiveIndex | undefined;
}

const DEFAULT_MAX_BYTES = 100 * 1024 * 1024;
const QUERY_ATTEMPTS = 3;

/**
 * JSON-lines audit sink. Each batch is one write and one fdatasync; a failed batch is cut off again
 * and the head stays, so the file holds whole acknowledged batches plus at most a torn tail. After a
 * failure the file is closed and every later append starts by reopening it, re-reading the head from
 * disk, so the sink heals once the disk, directory or permissions are fixed.
 *
 * One process per file: the sink does not lock against a second writer.
 */
export class FileAuditSink implements AuditSink, AuditReader {
  readonly name = 'file';
  readonly #path: string;
  readonly #instance: string;
  readonly #maxBytes: number;
  readonly #logger: Logger | undefined;
  readonly #chain = new HashChain();
  #file: OpenFile | undefined;
  /** Set once a head was read from disk: from then on the in-memory head is a witness too. */
  #opened = false;
  #closed = false;
  /** The last append's error until an append (or a probe write in check()) succeeds. */
  #lastFailure: Error | undefined;
  /** Bumped whenever files are renamed or reopened, so a query racing it retries. */
  #generation = 0;
  readonly #serial = new Serial();

  constructor(options: FileAuditSinkOptions) {
    this.#path = options.path;
    this.#instance = options.instance;
    this.#maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
    this.#logger = options.logger;
  }

  get head(): ChainHead {
    return this.#chain.head;
  }

  open(): Promise<void> {
    this.#closed = false;
    return this.#serial.run(async () => {
      await this.#reopen();
      await this.#ensureRotatedIndexes();
    });
  }

  /** Appends run one at a time even if callers overlap: offsets and the head depend on it. */
  append(drafts: readonly AuditDraft[]): Promise<AuditRecord[]> {
    return this.#serial.run(() => this.#append(drafts));
  }

  /**
   * Permissions and the open file's identity, always; and after a failed append a real write, because
   * a full or failing disk passes every permission check while every append fails.
   */
  async check(): Promise<void> {
    await access(dirname(this.#path), constants.W_OK);
    await access(this.#path, constants.W_OK).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
    if (this.#file) await this.#assertSameFile(this.#file);
    if (this.#lastFailure) await this.#probeWrite();
  }

  /**
   * Opens the audit file for appending (without writing to it), then writes, syncs and removes a
   * small file beside it; clears the failure if both work.
   */
  async #probeWrite(): Promise<void> {
    const probe = join(dirname(this.#path), `.${basename(this.#path)}.probe-${process.pid}`);
    try {
      await (await open(this.#path, 'a')).close();
      const handle = await open(probe, 'w');
      try {
        await writeFully(handle, Buffer.alloc(4096));
        await handle.datasync();
      } finally {
        await handle.close();
        await rm(probe, { force: true });
      }
    } catch (err) {
      throw new Error(`the audit directory cannot take a write: ${(err as Error).message}`, { cause: this.#lastFailure });
    }
    this.#lastFailure = undefined;
  }

  close(): Promise<void> {
    this.#closed = true;
    return this.#serial.run(() => this.#closeFile());
  }

  async #append(drafts: readonly AuditDraft[]): Promise<AuditRecord[]> {
    if (this.#closed) throw new Error('audit file sink is closed');
    if (drafts.length === 0) return [];
    try {
      let file = this.#file ?? (await this.#reopen());
      let { records, lines, data } = this.#serialize(drafts);
      if (file.size > 0 && file.size + data.length > this.#maxBytes) {
        file = await this.#rotate(file);
        ({ records, lines, data } = this.#serialize(drafts));
      }
      const start = file.size;
      await this.#write(file, data);
      this.#chain.advance(records);
      await this.#index(file, locate(records, lines, start));
      this.#lastFailure = undefined;
      return records;
    } catch (err) {
      this.#lastFailure = err as Error;
      await this.#closeFile();
      throw err;
    }
  }

  /** Links the drafts to the current head (which a reopen may have just re-read). */
  #serialize(drafts: readonly AuditDraft[]): { records: AuditRecord[]; lines: Buffer[]; data: Buffer } {
    const linked = this.#chain.linkWithLines(drafts);
    const records = linked.records;
    const lines = linked.lines.map((line) => Buffer.from(line, 'utf8'));
    return { records, lines, data: Buffer.concat(lines) };
  }

  async #write(file: OpenFile, data: Buffer): Promise<void> {
    try {
      await writeFully(file.handle, data);
      await file.handle.datasync();
      await this.#assertSameFile(file);
    } catch (err) {
      await file.handle.truncate(file.size).catch(() => undefined);
      throw err;
    }
    file.size += data.length;
  }

  /** A write to a file that was deleted or replaced succeeds but reaches no one: treat it as failed. */
  async #assertSameFile(file: OpenFile): Promise<void> {
    const current = await stat(this.#path);
    if (current.ino !== file.ino || current.dev !== file.dev) throw new Error(`audit file ${this.#path} was replaced`);
  }

  /** The index is derived data: a failure here is logged and repaired later, never a failed batch. */
  async #index(file: OpenFile, located: LocatedRecord[]): Promise<void> {
    try {
      // Loading or catching up indexes this batch too, from the audit file it is now in.
      if (!file.index) file.index = await LiveIndex.load(indexPath(this.#path), this.#path, file.size);
      else if (file.index.stale || file.index.covered !== located[0]?.offset) await file.index.catchUp(this.#path, file.size);
      else await file.index.append(located);
    } catch (err) {
      this.#logger?.warn({ err, file: indexPath(this.#path) }, 'audit index update failed; it is rebuilt from the audit file');
    }
  }

  /** (Re)opens the current file, trims a torn tail and re-reads the chain head from disk. */
  async #reopen(): Promise<OpenFile> {
    await this.#closeFile();
    await mkdir(dirname(this.#path), { recursive: true });
    const handle = await open(this.#path, 'a+');
    try {
      const { size: found, dev, ino } = await handle.stat();
      const size = await trimTornTail(handle, found);
      if (size < found) this.#logger?.warn({ file: this.#path, bytes: found - size }, 'trimmed a torn audit record (never acknowledged)');
      this.#adoptHead(await this.#headOnDisk(handle, size));
      await syncDirectory(dirname(this.#path));
      const index = await LiveIndex.load(indexPath(this.#path), this.#path, size).catch((err: unknown) => {
        this.#logger?.warn({ err, file: indexPath(this.#path) }, 'audit index unavailable');
        return undefined;
      });
      this.#file = { handle, size, dev, ino, index };
      this.#opened = true;
      this.#generation += 1;
      return this.#file;
    } catch (err) {
      await handle.close().catch(() => undefined);
      throw err;
    }
  }

  async #headOnDisk(handle: FileHandle, size: number): Promise<ChainHead | undefined> {
    const own = await lastRecordOf(handle, size, this.#instance);
    if (own) return own;
    for (const { path } of (await listRotated(this.#path)).reverse()) {
      const rotated = await open(path, 'r');
      try {
        const head = await lastRecordOf(rotated, (await rotated.stat()).size, this.#instance);
        if (head) return head;
      } finally {
        await rotated.close();
      }
    }
    return undefined;
  }

  /**
   * Disk is the truth, except when it lost acknowledged records (files deleted under us): then the
   * chain continues from memory, so the gap shows up in `audit verify` instead of being papered over.
   */
  #adoptHead(onDisk: ChainHead | undefined): void {
    const known = this.#chain.head;
    if (this.#opened && (onDisk?.seq ?? 0) < known.seq) {
      this.#logger?.error({ file: this.#path, seq: known.seq, onDisk: onDisk?.seq ?? 0 }, 'audit records acknowledged earlier are missing from disk');
      return;
    }
    this.#chain.reset(onDisk ?? GENESIS_HEAD);
  }

  /**
   * Renames `audit.jsonl` to `audit.jsonl.<N+1>` (and its index) and starts a new file. The chain
   * simply continues in the new file.
   */
  async #rotate(file: OpenFile): Promise<OpenFile> {
    const target = rotatedPath(this.#path, ((await listRotated(this.#path)).at(-1)?.n ?? 0) + 1);
    await this.#seal(file);
    file.index = undefined;
    await this.#closeFile();
    await rename(this.#path, target);
    await rename(indexPath(this.#path), indexPath(target)).catch(() => undefined);
    this.#logger?.info({ file: target }, 'audit file rotated');
    return this.#reopen();
  }

  async #seal({ index, size }: OpenFile): Promise<void> {
    try {
      if (index && (index.stale || index.covered !== size)) await index.catchUp(this.#path, size);
      await index?.seal(size);
    } catch (err) {
      await index?.close();
      this.#logger?.warn({ err }, 'sealing the audit index failed; it is rebuilt when next needed');
    }
  }

  async #ensureRotatedIndexes(): Promise<void> {
    for (const { path } of await listRotated(this.#path)) {
      try {
        const { size } = await stat(path);
        if (!(await isSealed(indexPath(path), size))) await this.#rebuildIndex(path, size);
      } catch (err) {
        this.#logger?.warn({ err, file: path }, 'audit index rebuild failed');
      }
    }
  }

  async #rebuildIndex(path: string, size: number): Promise<void> {
    this.#logger?.info({ file: path }, 'rebuilding audit index');
    await rebuildSealedIndex(indexPath(path), path, size);
  }

  async #closeFile(): Promise<void> {
    const file = this.#file;
    this.#file = undefined;
    if (!file) return;
    this.#generation += 1;
    await file.index?.close();
    await file.handle.close().catch(() => undefined);
  }

  /**
   * A patient's records, newest first. Walks the index of the current file, then of each rotated
   * file newest first, reading only the matching lines. A rotation or reopen during the walk can
   * shift files under it; then it starts over.
   */
  async query(query: AuditQuery): Promise<AuditRecord[]> {
    for (let attempt = 1; ; attempt += 1) {
      const generation = this.#generation;
      try {
        const found = await this.#queryOnce(query);
        if (generation === this.#generation) return found;
      } catch (err) {
        if (generation === this.#generation || attempt >= QUERY_ATTEMPTS) throw err;
      }
      if (attempt >= QUERY_ATTEMPTS) throw new Error('audit files kept changing during the query');
    }
  }

  async #queryOnce(query: AuditQuery): Promise<AuditRecord[]> {
    const live = this.#file?.index;
    if (!live || live.stale) throw new Error('audit index unavailable');
    const found: AuditRecord[] = [];
    const key = patientKey(query.pkbId);
    const segments = [{ path: this.#path, reader: () => IndexReader.openLive(live) }];
    for (const { path } of (await listRotated(this.#path)).reverse()) segments.push({ path, reader: () => this.#sealedReader(path) });
    for (const segment of segments) {
      if (found.length >= query.limit) break;
      const reader = await segment.reader();
      try {
        // Files are in time order: once a whole file is older than `since`, so are all before it.
        if (query.since !== undefined && reader.count > 0 && reader.maxTime < query.since) break;
        await collect(segment.path, reader.entries(key), query, found);
      } finally {
        await reader.close();
      }
    }
    return found;
  }

  async #sealedReader(path: string): Promise<IndexReader> {
    const { size } = await stat(path);
    const reader = await IndexReader.openSealed(indexPath(path), size);
    if (reader) return reader;
    await this.#rebuildIndex(path, size);
    const rebuilt = await IndexReader.openSealed(indexPath(path), size);
    if (!rebuilt) throw new Error(`audit index of ${path} cannot be built`);
    return rebuilt;
  }
}

function locate(records: AuditRecord[], lines: Buffer[], start: number): LocatedRecord[] {
  let offset = start;
  return records.map((record, i) => {
    const bytes = lines[i]!.length;
    const located = { record, offset, bytes };
    offset += bytes;
    return located;
  });
}

async function collect(
  path: string,
  entries: AsyncIterable<{ offset: number; bytes: number; time: number }>,
  query: AuditQuery,
  found: AuditRecord[],
): Promise<void> {
  const handle = await open(path, 'r');
  try {
    for await (const entry of entries) {
      if (found.length >= query.limit) return;
      if (query.since !== undefined && entry.time < query.since) continue;
      const line = Buffer.alloc(entry.bytes);
      await readFully(handle, line, entry.offset);
      const record = parseRecordLine(line.toString('utf8').trimEnd());
      if (record && (record.pkbId === query.pkbId || record.tokenPkbId === query.pkbId)) found.push(record);
    }
  } finally {
    await handle.close();
  }
}

/** A new or renamed file is durable only once its directory entry is. */
async function syncDirectory(path: string): Promise<void> {
  const directory = await open(path, 'r');
  try {
    await directory.sync();
  } finally {
    await directory.close();
  }
}
