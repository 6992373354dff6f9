import { appendFile, readdir, rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { indexPath, listRotated } from '../../../src/audit/audit-files.js';
import { FileAuditSink } from '../../../src/audit/file-sink.js';
import type { AuditDraft, AuditRecord } from '../../../src/audit/record.js';
import type { AuditQuery } from '../../../src/audit/sink.js';
import { draft, useScratchDir } from './helpers.js';

const scratch = useScratchDir();
const T0 = Date.UTC(2026, 0, 1);

async function openSink(path: string, maxBytes?: number): Promise<FileAuditSink> {
  const sink = new FileAuditSink({ path, instance: 'gw-1', maxBytes });
  await sink.open();
  return sink;
}

/** What a query must return, computed the slow, obvious way. */
function expected(all: AuditRecord[], query: AuditQuery): AuditRecord[] {
  return all
    .filter((r) => r.pkbId === query.pkbId || r.tokenPkbId === query.pkbId)
    .filter((r) => query.since === undefined || Date.parse(r.time) >= query.since)
    .reverse()
    .slice(0, query.limit);
}

function patientDraft(i: number, patients: number): AuditDraft {
  const pkbId = `patient-${(i * 7919) % patients}`;
  return draft({
    id: `r${i}`,
    time: new Date(T0 + i * 1000).toISOString(),
    pkbId,
    // Every 10th record is a patient_mismatch refusal: it belongs to the token's patient too.
    tokenPkbId: i % 10 === 0 ? `patient-${(i + 1) % patients}` : undefined,
    event: i % 10 === 0 ? 'denied' : 'access',
    request: { id: `q${i}`, method: 'GET', path: `/patients/${pkbId}`, query: '', clientIp: '10.0.0.1' },
  });
}

async function fill(sink: FileAuditSink, count: number, patients: number, batch = 500): Promise<AuditRecord[]> {
  const all: AuditRecord[] = [];
  for (let i = 0; i < count; i += batch) {
    const drafts = Array.from({ length: Math.min(batch, count - i) }, (_, j) => patientDraft(i + j, patients));
    all.push(...(await sink.append(drafts)));
  }
  return all;
}

const QUERIES: AuditQuery[] = [
  { pkbId: 'patient-0', limit: 1000 },
  { pkbId: 'patient-1', limit: 5 },
  { pkbId: 'patient-42', limit: 1000 },
  { pkbId: 'patient-42', limit: 1000, since: T0 + 25_000_000 },
  { pkbId: 'patient-999', limit: 3, since: T0 + 40_000_000 },
  { pkbId: 'nobody', limit: 10 },
];

describe('FileAuditSink.query', () => {
  it('answers from the index: newest first, limit, since, pkbId or tokenPkbId', async () => {
    const path = join(scratch(), 'audit.jsonl');
    const sink = await openSink(path);
    const all = await fill(sink, 300, 7, 50);
    for (const query of [
      { pkbId: 'patient-3', limit: 100 },
      { pkbId: 'patient-3', limit: 4 },
      { pkbId: 'patient-3', limit: 100, since: T0 + 150_000 },
      { pkbId: 'patient-9', limit: 10 },
    ]) {
      expect(await sink.query(query)).toEqual(expected(all, query));
    }
    const mismatch = all.find((r) => r.tokenPkbId !== undefined)!;
    expect(await sink.query({ pkbId: mismatch.tokenPkbId!, limit: 1000 })).toContainEqual(mismatch);
    await sink.close();
  });

  it('answers correctly over 50k records in rotated files, before and after a restart', async () => {
    const path = join(scratch(), 'audit.jsonl');
    const sink = await openSink(path, 4 * 1024 * 1024);
    const all = await fill(sink, 50_000, 1000);
    expect((await listRotated(path)).length).toBeGreaterThanOrEqual(3);
    for (const query of QUERIES) expect(await sink.query(query)).toEqual(expected(all, query));
    await sink.close();

    const restarted = await openSink(path, 4 * 1024 * 1024);
    for (const query of QUERIES) expect(await restarted.query(query)).toEqual(expected(all, query));
    await restarted.close();
  }, 60_000);

  it('rebuilds missing, short or foreign indexes from the audit files', async () => {
    const dir = scratch();
    const path = join(dir, 'audit.jsonl');
    const sink = await openSink(path, 64 * 1024);
    const all = await fill(sink, 2000, 50, 100);
    await sink.close();
    const rotated = await listRotated(path);
    expect(rotated.length).toBeGreaterThanOrEqual(2);

    await rm(indexPath(rotated[0]!.path));
    await truncate(indexPath(path), 32 + 32 * 10 + 7);
    await writeFile(indexPath(rotated[1]!.path), Buffer.alloc(5000, 0xab));

    const reopened = await openSink(path, 64 * 1024);
    for (const query of [
      { pkbId: 'patient-7', limit: 1000 },
      { pkbId: 'patient-11', limit: 2, since: T0 + 100_000 },
    ]) {
      expect(await reopened.query(query)).toEqual(expected(all, query));
    }
    await reopened.close();
  });

  it('rebuilds an index that was deleted while running', async () => {
    const path = join(scratch(), 'audit.jsonl');
    const sink = await openSink(path, 64 * 1024);
    const all = await fill(sink, 1500, 20, 100);
    const [oldest] = await listRotated(path);
    await rm(indexPath(oldest!.path));

    const query = { pkbId: 'patient-4', limit: 1000 };
    expect(await sink.query(query)).toEqual(expected(all, query));
    expect(await readdir(scratch())).toContain(`${oldest!.path.split('/').at(-1)}.idx`);
    await sink.close();
  });

  it('does not index a torn tail, and indexes records appended after the trim', async () => {
    const path = join(scratch(), 'audit.jsonl');
    const sink = await openSink(path);
    const all = await fill(sink, 100, 5, 25);
    await sink.close();
    await appendFile(path, '{"pkbId":"patient-1","seq":101');

    const reopened = await openSink(path);
    all.push(...(await reopened.append([patientDraft(101, 5), patientDraft(106, 5)])));
    const query = { pkbId: 'patient-1', limit: 1000 };
    expect(await reopened.query(query)).toEqual(expected(all, query));
    await reopened.close();
  });

  it('ignores an index left beside a file that is no longer its own (crash during rotation)', async () => {
    const path = join(scratch(), 'audit.jsonl');
    const sink = await openSink(path);
    await fill(sink, 200, 5, 50);
    await sink.close();
    await rm(path);

    const reopened = await openSink(path);
    const fresh = await reopened.append([patientDraft(300, 5), patientDraft(305, 5)]);
    const query = { pkbId: fresh[0]!.pkbId!, limit: 1000 };
    expect(await reopened.query(query)).toEqual(expected(fresh, query));
    await reopened.close();
  });
});
