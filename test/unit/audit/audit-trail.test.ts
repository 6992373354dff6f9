import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { AuditTrail, type AuditInput } from '../../../src/audit/audit-trail.js';
import { HashChain } from '../../../src/audit/chain.js';
import { FileAuditSink } from '../../../src/audit/file-sink.js';
import type { AuditDraft, AuditRecord } from '../../../src/audit/record.js';
import type { AuditSink } from '../../../src/audit/sink.js';
import { StdoutAuditSink } from '../../../src/audit/stdout-sink.js';
import { verifyAuditFiles } from '../../../src/audit/verify.js';
import { GatewayError } from '../../../src/errors.js';
import { createMetrics, type GatewayMetrics } from '../../../src/metrics.js';
import { useScratchDir } from './helpers.js';

const scratch = useScratchDir();

function input(overrides: Partial<AuditInput> = {}): AuditInput {
  return { event: 'access', outcome: 'success', teamId: 'team-a', userId: 'dr.jones', pkbId: 'patient-1', ...overrides };
}

async function metricValue(metrics: GatewayMetrics, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = (await metrics.registry.getMetricsAsJSON()).find((m) => m.name === name.replace(/_count$/, ''));
  const values = (metric?.values ?? []) as { value: number; labels: Record<string, unknown>; metricName?: string }[];
  return values
    .filter((v) => (name.endsWith('_count') ? v.metricName === name : true))
    .filter((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))
    .reduce((sum, v) => sum + v.value, 0);
}

/** A sink whose availability the test switches; it keeps a real chain like any sink. */
class SwitchableSink implements AuditSink {
  readonly name = 'postgres';
  readonly chain = new HashChain();
  readonly records: AuditRecord[] = [];
  available = true;
  async open(): Promise<void> {}
  async append(drafts: readonly AuditDraft[]): Promise<AuditRecord[]> {
    if (!this.available) throw new Error('connection refused');
    const records = this.chain.link(drafts);
    this.chain.advance(records);
    this.records.push(...records);
    return records;
  }
  async check(): Promise<void> {
    if (!this.available) throw new Error('connection refused');
  }
  async close(): Promise<void> {}
}

describe('AuditTrail', () => {
  it('group-commits concurrent writes; each resolves only once its record is in the file', async () => {
    const path = join(scratch(), 'audit.jsonl');
    const metrics = createMetrics({ collectDefaults: false });
    const trail = new AuditTrail([new FileAuditSink({ path, instance: 'gw-1' })], { instance: 'gw-1', metrics });
    await trail.open();

    const ids = Array.from({ length: 200 }, (_, i) => `id-${i}`);
    const seenOnResolve = await Promise.all(
      ids.map((id) => trail.write(input({ id })).then(() => readFileSync(path, 'utf8').includes(`"id":"${id}"`))),
    );
    await trail.close();

    expect(seenOnResolve.every(Boolean)).toBe(true);
    const batches = await metricValue(metrics, 'btg_audit_write_duration_seconds_count');
    expect(batches).toBeGreaterThan(0);
    expect(batches).toBeLessThan(200);
    expect(await metricValue(metrics, 'btg_audit_records_total', { event: 'access' })).toBe(200);
    expect(await verifyAuditFiles([path])).toMatchObject({ ok: true, records: 200 });
  });

  it('keeps batching writes that arrive while a batch is being made durable', async () => {
    const path = join(scratch(), 'audit.jsonl');
    const metrics = createMetrics({ collectDefaults: false });
    const trail = new AuditTrail([new FileAuditSink({ path, instance: 'gw-1' })], { instance: 'gw-1', metrics });
    await trail.open();

    const first = trail.write(input());
    await Promise.resolve();
    await Promise.resolve();
    const later = Array.from({ length: 50 }, () => trail.write(input()));
    await Promise.all([first, ...later]);
    await trail.close();

    expect(await metricValue(metrics, 'btg_audit_write_duration_seconds_count')).toBeLessThanOrEqual(2);
  });

  it('stamps instance, id and ISO time with milliseconds', async () => {
    const sink = new SwitchableSink();
    const trail = new AuditTrail([sink], { instance: 'gw-7', now: () => new Date(Date.UTC(2026, 2, 4, 5, 6, 7, 89)) });
    await trail.open();
    await trail.write(input());
    await trail.write(input({ id: 'given', time: '2026-01-01T00:00:00.000Z' }));

    expect(sink.records[0]).toMatchObject({ instance: 'gw-7', time: '2026-03-04T05:06:07.089Z', seq: 1 });
    expect(sink.records[0]!.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(sink.records[1]).toMatchObject({ id: 'given', time: '2026-01-01T00:00:00.000Z', instance: 'gw-7' });
  });

  it('refuses with 503 audit_unavailable when any sink fails, and recovers with it', async () => {
    const path = join(scratch(), 'audit.jsonl');
    const metrics = createMetrics({ collectDefaults: false });
    const flaky = new SwitchableSink();
    const trail = new AuditTrail([new FileAuditSink({ path, instance: 'gw-1' }), flaky], { instance: 'gw-1', metrics });
    await trail.open();
    await trail.write(input());

    flaky.available = false;
    const refused = await Promise.allSettled([trail.write(input()), trail.write(input())]);
    for (const result of refused) {
      expect(result.status).toBe('rejected');
      const err = (result as PromiseRejectedResult).reason as GatewayError;
      expect(err).toBeInstanceOf(GatewayError);
      expect(err).toMatchObject({ status: 503, code: 'audit_unavailable' });
    }
    expect(await metricValue(metrics, 'btg_audit_failures_total', { sink: 'postgres' })).toBe(1);
    expect(await metricValue(metrics, 'btg_audit_failures_total', { sink: 'file' })).toBe(0);
    expect(await trail.check()).toEqual({ ok: false, failures: [{ sink: 'postgres', message: 'connection refused' }] });

    flaky.available = true;
    expect((await trail.check()).ok).toBe(true);
    await trail.write(input());
    await trail.close();

    expect(flaky.records.map((r) => r.seq)).toEqual([1, 2]);
    expect(await metricValue(metrics, 'btg_audit_records_total', { event: 'access' })).toBe(2);
    // The refused batch is in the file sink (it succeeded there); its chain stays intact.
    expect(await verifyAuditFiles([path])).toMatchObject({ ok: true, records: 4 });
  });

  it('replaces lone surrogates (which JCS cannot hash) instead of failing the batch', async () => {
    const sink = new SwitchableSink();
    const trail = new AuditTrail([sink], { instance: 'gw-1' });
    await trail.open();
    await trail.write(input({ reason: 'bad \ud800 text' }));
    expect(sink.records[0]!.reason).toBe('bad \ufffd text');
  });

  it('refuses only the caller whose record cannot be hashed', async () => {
    const sink = new SwitchableSink();
    const trail = new AuditTrail([sink], { instance: 'gw-1' });
    await trail.open();
    const bad = input({ response: { status: 200, bytes: Number.NaN, sha256: 'x' } });
    const [good, refused] = await Promise.allSettled([trail.write(input()), trail.write(bad)]);
    expect(good.status).toBe('fulfilled');
    expect(refused.status).toBe('rejected');
    expect(sink.records).toHaveLength(1);
    expect((await trail.check()).ok).toBe(true);
  });

  it('flushes queued writes on close and refuses writes after it', async () => {
    const sink = new SwitchableSink();
    const trail = new AuditTrail([sink], { instance: 'gw-1' });
    await trail.open();
    const pending = [trail.write(input()), trail.write(input())];
    await trail.close();
    await expect(Promise.all(pending)).resolves.toBeDefined();
    expect(sink.records).toHaveLength(2);
    await expect(trail.write(input())).rejects.toMatchObject({ status: 503, code: 'audit_unavailable' });
  });

  it('offers the sinks that can answer queries as readers', () => {
    const file = new FileAuditSink({ path: join(scratch(), 'audit.jsonl'), instance: 'gw-1' });
    const trail = new AuditTrail([new StdoutAuditSink(new PassThrough()), file, new SwitchableSink()], { instance: 'gw-1' });
    expect(trail.readers()).toEqual([file]);
  });
});

describe('StdoutAuditSink', () => {
  it('writes one JSON line per record, chained from seq 1 in every process', async () => {
    const out = new PassThrough();
    const chunks: string[] = [];
    out.on('data', (chunk: Buffer) => chunks.push(chunk.toString()));
    const trail = new AuditTrail([new StdoutAuditSink(out)], { instance: 'gw-1' });
    await trail.open();
    await Promise.all([trail.write(input()), trail.write(input({ event: 'response' }))]);
    await trail.write(input({ event: 'revoke' }));
    await trail.close();

    const lines = chunks.join('').split('\n').filter(Boolean);
    expect(lines.map((line) => (JSON.parse(line) as AuditRecord).seq)).toEqual([1, 2, 3]);
    const path = join(scratch(), 'collected.jsonl');
    writeFileSync(path, `${lines.join('\n')}\n`);
    expect(await verifyAuditFiles([path])).toMatchObject({ ok: true, records: 3 });
  });

  it('rejects a batch the stream refuses and keeps its head', async () => {
    let failNext = false;
    const lines: string[] = [];
    const out = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        if (failNext) {
          failNext = false;
          callback(new Error('EPIPE'));
          return;
        }
        lines.push(...chunk.toString().split('\n').filter(Boolean));
        callback();
      },
    });
    const sink = new StdoutAuditSink(out);
    await sink.open();
    const stamp = { time: '2026-01-01T00:00:00.000Z', instance: 'gw-1' };
    await sink.append([{ ...input(), id: 'a', ...stamp }]);
    failNext = true;
    await expect(sink.append([{ ...input(), id: 'b', ...stamp }])).rejects.toThrow('EPIPE');
    expect(out.destroyed).toBe(true);
    await expect(sink.check()).rejects.toThrow(/closed/);
    expect(lines.map((line) => (JSON.parse(line) as AuditRecord).seq)).toEqual([1]);
  });

  it('continues after a refused batch from the last accepted record', async () => {
    let failNext = false;
    const out = new PassThrough();
    const sink = new StdoutAuditSink(out);
    await sink.open();
    const original = out.write.bind(out);
    out.write = ((chunk: string, callback: (err?: Error | null) => void) => {
      if (!failNext) return original(chunk, callback);
      failNext = false;
      process.nextTick(callback, new Error('EAGAIN'));
      return true;
    }) as typeof out.write;
    const stamp = { time: '2026-01-01T00:00:00.000Z', instance: 'gw-1' };
    const [first] = await sink.append([{ ...input(), id: 'a', ...stamp }]);
    failNext = true;
    await expect(sink.append([{ ...input(), id: 'b', ...stamp }])).rejects.toThrow('EAGAIN');
    const [next] = await sink.append([{ ...input(), id: 'c', ...stamp }]);
    expect(next).toMatchObject({ seq: 2, prevHash: first!.hash });
  });
});
