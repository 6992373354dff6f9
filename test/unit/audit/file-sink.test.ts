import { appendFile, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { auditFileSet, listRotated } from '../../../src/audit/audit-files.js';
import { FileAuditSink } from '../../../src/audit/file-sink.js';
import type { AuditRecord } from '../../../src/audit/record.js';
import { verifyAuditFiles } from '../../../src/audit/verify.js';
import { draft, useScratchDir } from './helpers.js';

const scratch = useScratchDir();

async function openSink(path: string, options: { instance?: string; maxBytes?: number } = {}): Promise<FileAuditSink> {
  const sink = new FileAuditSink({ path, instance: options.instance ?? 'gw-1', maxBytes: options.maxBytes });
  await sink.open();
  return sink;
}

async function readRecords(path: string): Promise<AuditRecord[]> {
  const text = await readFile(path, 'utf8');
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as AuditRecord);
}

describe('FileAuditSink', () => {
  it('writes a batch as one JSON line per record that verifies', async () => {
    const path = join(scratch(), 'data', 'audit.jsonl');
    const sink = await openSink(path);
    const written = await sink.append([draft(), draft({ event: 'response' }), draft({ event: 'grant' })]);
    await sink.close();

    expect(written.map((r) => r.seq)).toEqual([1, 2, 3]);
    expect(await readRecords(path)).toEqual(written);
    expect(await verifyAuditFiles([path])).toMatchObject({ ok: true, records: 3, instances: ['gw-1'] });
  });

  it('continues seq and hash from the file after a restart', async () => {
    const path = join(scratch(), 'audit.jsonl');
    const first = await openSink(path);
    const before = await first.append([draft(), draft()]);
    await first.close();

    const second = await openSink(path);
    expect(second.head).toEqual({ seq: 2, hash: before[1]!.hash });
    const [next] = await second.append([draft()]);
    await second.close();

    expect(next).toMatchObject({ seq: 3, prevHash: before[1]!.hash });
    expect(await verifyAuditFiles([path])).toMatchObject({ ok: true, records: 3 });
  });

  it('trims a torn last line at open and continues from the last good record', async () => {
    const path = join(scratch(), 'audit.jsonl');
    const sink = await openSink(path);
    const good = await sink.append([draft(), draft()]);
    await sink.close();
    const intact = await readFile(path, 'utf8');
    await appendFile(path, '{"id":"torn","seq":3,"prevH');

    const reopened = await openSink(path);
    expect(await readFile(path, 'utf8')).toBe(intact);
    const [next] = await reopened.append([draft()]);
    await reopened.close();

    expect(next).toMatchObject({ seq: 3, prevHash: good[1]!.hash });
    expect(await verifyAuditFiles([path])).toMatchObject({ ok: true, records: 3, warnings: [] });
  });

  it('trims a complete but unparsable last line (garbage that reached the disk)', async () => {
    const path = join(scratch(), 'audit.jsonl');
    const sink = await openSink(path);
    await sink.append([draft()]);
    await sink.close();
    const intact = await readFile(path, 'utf8');
    await appendFile(path, '\u0000\u0000\u0000\n');

    const reopened = await openSink(path);
    await reopened.close();
    expect(await readFile(path, 'utf8')).toBe(intact);
  });

  it('keeps one chain per instance when instances share a file', async () => {
    const path = join(scratch(), 'audit.jsonl');
    const a = await openSink(path, { instance: 'gw-a' });
    await a.append([draft({ instance: 'gw-a' }), draft({ instance: 'gw-a' })]);
    await a.close();

    const b = await openSink(path, { instance: 'gw-b' });
    expect(b.head.seq).toBe(0);
    await b.append([draft({ instance: 'gw-b' })]);
    await b.close();

    const again = await openSink(path, { instance: 'gw-a' });
    expect(again.head.seq).toBe(2);
    await again.append([draft({ instance: 'gw-a' })]);
    await again.close();

    expect(await verifyAuditFiles([path])).toMatchObject({ ok: true, records: 4, instances: ['gw-a', 'gw-b'] });
  });

  it('rotates by size into audit.jsonl.1, .2, … and keeps one chain across the files', async () => {
    const path = join(scratch(), 'audit.jsonl');
    const sink = await openSink(path, { maxBytes: 4096 });
    const written: AuditRecord[] = [];
    for (let i = 0; i < 40; i += 1) written.push(...(await sink.append([draft(), draft()])));
    await sink.close();

    const rotated = await listRotated(path);
    expect(rotated.length).toBeGreaterThanOrEqual(3);
    expect(rotated.map((file) => file.n)).toEqual(rotated.map((_, i) => i + 1));
    for (const file of [...rotated.map((r) => r.path), path]) expect((await stat(file)).size).toBeLessThanOrEqual(4096);

    const files = await auditFileSet(path);
    const onDisk = (await Promise.all(files.map(readRecords))).flat();
    expect(onDisk).toEqual(written);
    expect(onDisk.map((r) => r.seq)).toEqual(written.map((_, i) => i + 1));
    expect(await verifyAuditFiles([...files].reverse())).toMatchObject({ ok: true, records: 80 });
  });

  it('continues the chain from the newest rotated file when the current file is empty', async () => {
    const path = join(scratch(), 'audit.jsonl');
    const sink = await openSink(path, { maxBytes: 4096 });
    for (let i = 0; i < 20; i += 1) await sink.append([draft()]);
    await sink.close();
    await rm(path);

    const reopened = await openSink(path, { maxBytes: 4096 });
    expect(reopened.head.seq).toBe((await readRecords((await listRotated(path)).at(-1)!.path)).at(-1)!.seq);
    await reopened.close();
  });

  it('rejects a batch it cannot make durable, leaves nothing of it and heals when the problem goes away', async () => {
    const dir = join(scratch(), 'audit');
    const path = join(dir, 'audit.jsonl');
    const sink = await openSink(path);
    await sink.append([draft(), draft()]);
    const head = sink.head;

    // The directory is moved away and a file takes its place: nothing can be created at `path`.
    await rename(dir, `${dir}.away`);
    await writeFile(dir, 'not a directory');
    const sizeBefore = (await stat(join(`${dir}.away`, 'audit.jsonl'))).size;

    await expect(sink.append([draft()])).rejects.toThrow();
    await expect(sink.append([draft()])).rejects.toThrow();
    await expect(sink.check()).rejects.toThrow();
    expect(sink.head).toEqual(head);
    // The write reached the moved file before the sink noticed; it was cut off again.
    expect((await stat(join(`${dir}.away`, 'audit.jsonl'))).size).toBe(sizeBefore);

    await rm(dir);
    await rename(`${dir}.away`, dir);
    await sink.check();
    const [healed] = await sink.append([draft()]);
    await sink.close();

    expect(healed).toMatchObject({ seq: head.seq + 1, prevHash: head.hash });
    expect(await verifyAuditFiles([path])).toMatchObject({ ok: true, records: 3 });
  });

  it('after its files are deleted, continues the chain from memory so verify shows the loss', async () => {
    const dir = join(scratch(), 'audit');
    const path = join(dir, 'audit.jsonl');
    const sink = await openSink(path);
    await sink.append([draft(), draft()]);
    const head = sink.head;

    await rm(dir, { recursive: true });
    await expect(sink.append([draft()])).rejects.toThrow(/was replaced|ENOENT/);
    const [next] = await sink.append([draft()]);
    await sink.close();

    expect(next).toMatchObject({ seq: head.seq + 1, prevHash: head.hash });
    expect(await verifyAuditFiles([path])).toMatchObject({ ok: false, problem: 'missing', seq: 1 });
  });

  it('refuses appends after close', async () => {
    const sink = await openSink(join(scratch(), 'audit.jsonl'));
    await sink.close();
    await expect(sink.append([draft()])).rejects.toThrow(/closed/);
  });

  it('writes an index beside each audit file', async () => {
    const path = join(scratch(), 'audit.jsonl');
    const sink = await openSink(path, { maxBytes: 4096 });
    for (let i = 0; i < 20; i += 1) await sink.append([draft()]);
    await sink.close();
    const names = await readdir(scratch());
    for (const name of names.filter((n) => !n.endsWith('.idx'))) expect(names).toContain(`${name}.idx`);
  });
});
