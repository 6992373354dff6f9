import { open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readLines, readLinesBackward, type Line } from '../../../src/audit/jsonl.js';
import { useScratchDir } from './helpers.js';

const scratch = useScratchDir();

/** Lines spanning several 1 MiB read blocks, with multi-byte characters across block edges. */
const CONTENT = ['short', 'é'.repeat(700_000), '', 'x'.repeat(2_500_000), '€ end'];

async function both(text: string): Promise<{ forward: Line[]; backward: Line[] }> {
  const path = join(scratch(), 'lines.jsonl');
  await writeFile(path, text);
  const forward: Line[] = [];
  for await (const line of readLines(path)) forward.push(line);
  const handle = await open(path, 'r');
  const backward: Line[] = [];
  for await (const line of readLinesBackward(handle, Buffer.byteLength(text))) backward.push(line);
  await handle.close();
  return { forward, backward };
}

describe('readLines / readLinesBackward', () => {
  it('split the same lines with the same byte offsets, in opposite order', async () => {
    const text = `${CONTENT.join('\n')}\n`;
    const { forward, backward } = await both(text);
    expect(forward.map((l) => l.text)).toEqual(CONTENT);
    expect(backward).toEqual([...forward].reverse());
    for (const line of forward) {
      expect(line.terminated).toBe(true);
      expect(Buffer.from(text).subarray(line.offset, line.offset + line.bytes).toString()).toBe(`${line.text}\n`);
    }
  });

  it('mark a last line without newline as not terminated', async () => {
    const { forward, backward } = await both(`a\nb\npartial`);
    expect(forward.at(-1)).toEqual({ text: 'partial', offset: 4, bytes: 7, terminated: false });
    expect(backward[0]).toEqual(forward.at(-1));
    expect(backward.slice(1).every((l) => l.terminated)).toBe(true);
  });

  it('yield nothing for an empty file', async () => {
    expect(await both('')).toEqual({ forward: [], backward: [] });
  });
});
