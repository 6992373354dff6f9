import type { FileHandle } from 'node:fs/promises';
import type { ChainHead } from './chain.js';
import { readLinesBackward } from './jsonl.js';
import { parseRecordLine } from './record-line.js';

/**
 * Removes what a crash mid-write can leave at the end of an audit file: an unterminated fragment
 * and, before it, at most one complete but unparsable line (a block that reached the disk as
 * garbage). Neither was acknowledged: a batch is acknowledged only after the whole write and the
 * fsync succeed. Returns the new size; the caller logs when it shrank.
 */
export async function trimTornTail(handle: FileHandle, size: number): Promise<number> {
  let end = size;
  for await (const line of readLinesBackward(handle, size)) {
    if (line.terminated && parseRecordLine(line.text)) break;
    end = line.offset;
    if (line.terminated) break;
  }
  if (end < size) await handle.truncate(end);
  return end;
}

/**
 * The chain head of `instance` in the bytes before `end`: its last record. Several instances may
 * share a file (e.g. after a rename), so other instances' records are skipped.
 */
export async function lastRecordOf(handle: FileHandle, end: number, instance: string): Promise<ChainHead | undefined> {
  const needle = JSON.stringify(instance);
  for await (const line of readLinesBackward(handle, end)) {
    if (!line.text.includes(needle)) continue;
    const record = parseRecordLine(line.text);
    if (record?.instance === instance) return { seq: record.seq, hash: record.hash };
  }
  return undefined;
}
