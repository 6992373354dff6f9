import { createReadStream } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';

/** One line of a JSON-lines file, located by bytes so callers can seek, index or truncate. */
export interface Line {
  text: string;
  /** Byte offset of the line's first byte. */
  offset: number;
  /** Bytes of the line including its newline, if any. */
  bytes: number;
  /** False only for a last line without a newline: a write torn by a crash. */
  terminated: boolean;
}

const NEWLINE = 0x0a;
const BLOCK = 1 << 20;

/** Streams the lines of a file from `start` with memory bounded by the longest line. */
export async function* readLines(path: string, start = 0): AsyncGenerator<Line> {
  let carry: Buffer = Buffer.alloc(0);
  let offset = start;
  for await (const chunk of createReadStream(path, { start, highWaterMark: BLOCK }) as AsyncIterable<Buffer>) {
    const buffer = carry.length ? Buffer.concat([carry, chunk]) : chunk;
    let from = 0;
    for (let nl = buffer.indexOf(NEWLINE, from); nl !== -1; nl = buffer.indexOf(NEWLINE, from)) {
      yield { text: buffer.toString('utf8', from, nl), offset, bytes: nl + 1 - from, terminated: true };
      offset += nl + 1 - from;
      from = nl + 1;
    }
    carry = buffer.subarray(from);
  }
  if (carry.length) yield { text: carry.toString('utf8'), offset, bytes: carry.length, terminated: false };
}

/** Yields the lines before byte `end` of an open file, last line first. */
export async function* readLinesBackward(handle: FileHandle, end: number): AsyncGenerator<Line> {
  let tail: Buffer = Buffer.alloc(0);
  let position = end;
  let lineEnd = end;
  let terminated: boolean | undefined;
  while (position > 0) {
    const size = Math.min(BLOCK, position);
    position -= size;
    const block = Buffer.alloc(size);
    await readFully(handle, block, position);
    let buffer = tail.length ? Buffer.concat([block, tail]) : block;
    if (terminated === undefined) {
      terminated = buffer[buffer.length - 1] === NEWLINE;
      if (terminated) buffer = buffer.subarray(0, buffer.length - 1);
    }
    for (let nl = buffer.lastIndexOf(NEWLINE); nl !== -1; nl = buffer.lastIndexOf(NEWLINE)) {
      const text = buffer.toString('utf8', nl + 1);
      const offset = position + nl + 1;
      yield { text, offset, bytes: lineEnd - offset, terminated };
      terminated = true;
      lineEnd = offset;
      buffer = buffer.subarray(0, nl);
    }
    tail = buffer;
  }
  if (terminated !== undefined) yield { text: tail.toString('utf8'), offset: 0, bytes: lineEnd, terminated };
}

/** `read` may return fewer bytes than asked; audit offsets need all of them. */
export async function readFully(handle: FileHandle, buffer: Buffer, position: number): Promise<number> {
  let filled = 0;
  while (filled < buffer.length) {
    const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, position + filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return filled;
}

/** `write` may write fewer bytes than given; a record must never be left half-written by us. */
export async function writeFully(handle: FileHandle, data: Buffer): Promise<void> {
  let written = 0;
  while (written < data.length) {
    const { bytesWritten } = await handle.write(data, written, data.length - written);
    written += bytesWritten;
  }
}
