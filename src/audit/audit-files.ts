import { readdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { readLines } from './jsonl.js';
import { parseRecordLine } from './record-line.js';

/**
 * File naming of the file sink. `audit.jsonl` is always the file being written. Rotation renames it
 * to `audit.jsonl.<N>` with N = 1, 2, 3, … so a larger N is a newer file and the set in chain order
 * is `audit.jsonl.1`, `audit.jsonl.2`, …, `audit.jsonl`. Each audit file may have a rebuildable
 * query index beside it, `<file>.idx`.
 */

export function rotatedPath(base: string, n: number): string {
  return `${base}.${n}`;
}

export function indexPath(auditFile: string): string {
  return `${auditFile}.idx`;
}

/** The N of `<anything>.<N>`, or undefined for a file that is not a rotated one. */
function rotationNumber(path: string): number | undefined {
  const match = /\.(\d+)$/.exec(path);
  return match ? Number(match[1]) : undefined;
}

/** Rotated files of `base` that exist, oldest first (the current file itself is not included). */
export async function listRotated(base: string): Promise<{ path: string; n: number }[]> {
  const prefix = `${basename(base)}.`;
  let names: string[];
  try {
    names = await readdir(dirname(base));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return names
    .filter((name) => name.startsWith(prefix) && /^\d+$/.test(name.slice(prefix.length)))
    .map((name) => ({ path: join(dirname(base), name), n: Number(name.slice(prefix.length)) }))
    .sort((a, b) => a.n - b.n);
}

/** Every audit file of the sink writing `base`, in chain order: what `audit verify` should read. */
export async function auditFileSet(base: string): Promise<string[]> {
  return [...(await listRotated(base)).map(({ path }) => path), base];
}

/**
 * Audit files given in any order (e.g. a shell glob) in chain order: rotated files by N, then the
 * others (the current file); ties by first seq. Index files are not audit files and are left out.
 */
export async function orderByChain(paths: string[]): Promise<string[]> {
  const keyed = await Promise.all(
    paths
      .filter((path) => !path.endsWith('.idx'))
      .map(async (path) => ({ path, n: rotationNumber(path) ?? Infinity, seq: await firstSeq(path) })),
  );
  return keyed.sort((a, b) => compare(a.n, b.n) || compare(a.seq, b.seq)).map(({ path }) => path);
}

async function firstSeq(path: string): Promise<number> {
  for await (const { text } of readLines(path)) return parseRecordLine(text)?.seq ?? Infinity;
  return Infinity;
}

function compare(a: number, b: number): number {
  return a === b ? 0 : a < b ? -1 : 1;
}
