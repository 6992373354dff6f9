import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HashChain, recordHash } from '../../../src/audit/chain.js';
import type { AuditRecord } from '../../../src/audit/record.js';
import { verifyAuditFiles, verifyRecords } from '../../../src/audit/verify.js';
import { draft, useScratchDir } from './helpers.js';

const scratch = useScratchDir();

function chainOf(count: number, instance = 'gw-1'): AuditRecord[] {
  const chain = new HashChain();
  const records = chain.link(Array.from({ length: count }, () => draft({ instance })));
  chain.advance(records);
  return records;
}

function lines(records: AuditRecord[]): string[] {
  return records.map((record) => JSON.stringify(record));
}

async function fileOf(name: string, content: string[], terminated = true): Promise<string> {
  const path = join(scratch(), name);
  await writeFile(path, content.join('\n') + (terminated && content.length ? '\n' : ''));
  return path;
}

/** A record of the attacker's making, with a correct hash of its own. */
function forge(base: AuditRecord, changes: Partial<AuditRecord>): AuditRecord {
  const forged = { ...base, ...changes };
  return { ...forged, hash: recordHash(forged) };
}

describe('verifyAuditFiles', () => {
  it('accepts an intact chain', async () => {
    const path = await fileOf('audit.jsonl', lines(chainOf(10)));
    expect(await verifyAuditFiles([path])).toEqual({ ok: true, records: 10, instances: ['gw-1'], warnings: [] });
  });

  it('names an edited field as edited at its seq', async () => {
    const text = lines(chainOf(10));
    text[4] = text[4]!.replace('"pkbId":"patient-1"', '"pkbId":"patient-2"');
    expect(await verifyAuditFiles([await fileOf('audit.jsonl', text)])).toMatchObject({ ok: false, seq: 5, problem: 'edited', line: 5 });
  });

  it('names a deleted line as missing at its seq', async () => {
    const text = lines(chainOf(10));
    text.splice(4, 1);
    expect(await verifyAuditFiles([await fileOf('audit.jsonl', text)])).toMatchObject({ ok: false, seq: 5, problem: 'missing' });
  });

  it('names several deleted lines by the first of them', async () => {
    const text = lines(chainOf(10));
    text.splice(3, 3);
    const result = await verifyAuditFiles([await fileOf('audit.jsonl', text)]);
    expect(result).toMatchObject({ ok: false, seq: 4, problem: 'missing' });
    expect(result.ok || result.message).toContain('seq 4–6');
  });

  it('names a forged line with the next seq and a valid hash as inserted', async () => {
    const records = chainOf(10);
    const forged = forge(records[4]!, { pkbId: 'someone-else', id: 'forged' });
    const text = lines(records);
    text.splice(4, 0, JSON.stringify(forged));
    expect(await verifyAuditFiles([await fileOf('audit.jsonl', text)])).toMatchObject({ ok: false, seq: 5, problem: 'inserted' });
  });

  it('names a forged line that does not link to its predecessor as inserted', async () => {
    const records = chainOf(10);
    const forged = forge(records[4]!, { prevHash: 'a'.repeat(64) });
    const text = lines(records);
    text[4] = JSON.stringify(forged);
    expect(await verifyAuditFiles([await fileOf('audit.jsonl', text)])).toMatchObject({ ok: false, seq: 5, problem: 'inserted' });
  });

  it('names a forged line with an invented seq as inserted at that seq', async () => {
    const records = chainOf(10);
    const forged = forge(records[4]!, { seq: 42, prevHash: 'b'.repeat(64) });
    const text = lines(records);
    text.splice(4, 0, JSON.stringify(forged));
    expect(await verifyAuditFiles([await fileOf('audit.jsonl', text)])).toMatchObject({ ok: false, seq: 42, problem: 'inserted' });
  });

  it('names two swapped lines as reordered at the first seq out of place', async () => {
    const text = lines(chainOf(10));
    [text[4], text[5]] = [text[5]!, text[4]!];
    expect(await verifyAuditFiles([await fileOf('audit.jsonl', text)])).toMatchObject({ ok: false, seq: 5, problem: 'reordered' });
  });

  it('names a record moved far back as reordered', async () => {
    const text = lines(chainOf(10));
    const [moved] = text.splice(2, 1);
    text.splice(7, 0, moved!);
    expect(await verifyAuditFiles([await fileOf('audit.jsonl', text)])).toMatchObject({ ok: false, seq: 3, problem: 'reordered' });
  });

  it('names a duplicated line as inserted', async () => {
    const text = lines(chainOf(10));
    text.splice(6, 0, text[2]!);
    expect(await verifyAuditFiles([await fileOf('audit.jsonl', text)])).toMatchObject({ ok: false, seq: 3, problem: 'inserted' });
  });

  it('accepts a torn last line of the newest file with a warning', async () => {
    const text = lines(chainOf(5));
    text.push(lines(chainOf(6))[5]!.slice(0, 40));
    const result = await verifyAuditFiles([await fileOf('audit.jsonl', text, false)]);
    expect(result).toMatchObject({ ok: true, records: 5 });
    expect(result.ok && result.warnings[0]).toMatch(/torn last line/);
  });

  it('fails a truncated line inside the chain as malformed', async () => {
    const text = lines(chainOf(6));
    text[2] = text[2]!.slice(0, 30);
    expect(await verifyAuditFiles([await fileOf('audit.jsonl', text)])).toMatchObject({ ok: false, seq: 3, problem: 'malformed', line: 3 });
  });

  it('verifies a rotated set given in any order, and fails a torn line in an older file', async () => {
    const text = lines(chainOf(9));
    const oldest = await fileOf('audit.jsonl.1', text.slice(0, 3));
    const middle = await fileOf('audit.jsonl.2', text.slice(3, 6));
    const current = await fileOf('audit.jsonl', text.slice(6));
    expect(await verifyAuditFiles([current, oldest, middle])).toMatchObject({ ok: true, records: 9 });
    expect(await verifyAuditFiles([current, middle])).toMatchObject({ ok: false, seq: 1, problem: 'missing' });

    await writeFile(middle, (await readFile(middle, 'utf8')).slice(0, -20));
    expect(await verifyAuditFiles([current, oldest, middle])).toMatchObject({ ok: false, problem: 'torn', file: middle });
  });

  it('verifies interleaved chains of several instances separately', async () => {
    const a = lines(chainOf(4, 'gw-a'));
    const b = lines(chainOf(3, 'gw-b'));
    const mixed = [a[0]!, b[0]!, a[1]!, a[2]!, b[1]!, b[2]!, a[3]!];
    expect(await verifyAuditFiles([await fileOf('audit.jsonl', mixed)])).toMatchObject({ ok: true, records: 7, instances: ['gw-a', 'gw-b'] });

    const tampered = [a[0]!, b[0]!, a[2]!, a[1]!, b[1]!, b[2]!, a[3]!];
    expect(await verifyAuditFiles([await fileOf('tampered.jsonl', tampered)])).toMatchObject({ ok: false, seq: 2, problem: 'reordered' });
  });
});

describe('verifyRecords', () => {
  it('takes records or lines, and reports an unparsable line as malformed', () => {
    const records = chainOf(3);
    expect(verifyRecords(records)).toMatchObject({ ok: true, records: 3 });
    expect(verifyRecords(lines(records))).toMatchObject({ ok: true, records: 3 });
    expect(verifyRecords([...lines(records), 'not json'])).toMatchObject({ ok: false, seq: 4, problem: 'malformed' });
  });

  it('names an edit of the seq field itself as edited', () => {
    const records = chainOf(3);
    records[1] = { ...records[1]!, seq: 7 };
    expect(verifyRecords(records)).toMatchObject({ ok: false, seq: 7, problem: 'edited' });
  });

  it('reports deletion of the first records as missing from seq 1', () => {
    expect(verifyRecords(chainOf(5).slice(2))).toMatchObject({ ok: false, seq: 1, problem: 'missing' });
  });
});
