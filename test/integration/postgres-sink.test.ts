import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { AuditTrail } from '../../src/audit/audit-trail.js';
import { GENESIS_HEAD } from '../../src/audit/chain.js';
import { PostgresAuditSink, type PostgresAuditSinkOptions } from '../../src/audit/postgres-sink.js';
import { verifyPostgres } from '../../src/audit/postgres-verify.js';
import type { AuditRecord } from '../../src/audit/record.js';
import { createLogger } from '../../src/logger.js';
import { createMetrics } from '../../src/metrics.js';
import { MutingProxy } from '../support/muting-proxy.js';
import { describeWithService, postgresAvailable } from '../support/services.js';
import { draft } from '../unit/audit/helpers.js';

const PG_PORT = 5432;
const ADMIN_URL = `postgres://postgres@127.0.0.1:${PG_PORT}/test`;
/** ReadyForQuery, transaction status idle: the server's last word once a statement has committed. */
const READY_FOR_QUERY_IDLE = Buffer.from([0x5a, 0, 0, 0, 5, 0x49]);
const postgres = await postgresAvailable('127.0.0.1', PG_PORT);

function urlAs(role: string, port = PG_PORT): string {
  return `postgres://${role}@127.0.0.1:${port}/test`;
}

function randomName(prefix: string): string {
  return `${prefix}${randomUUID().replaceAll('-', '').slice(0, 12)}`;
}

describeWithService('PostgresAuditSink against a real PostgreSQL', postgres, () => {
  let admin: pg.Client;
  let tables: string[] = [];
  let roles: string[] = [];
  let sinks: PostgresAuditSink[] = [];
  let proxies: MutingProxy[] = [];

  beforeAll(async () => {
    admin = new pg.Client(ADMIN_URL);
    await admin.connect();
  });

  afterAll(async () => {
    await admin?.end();
  });

  afterEach(async () => {
    await Promise.all(sinks.map((sink) => sink.close()));
    await Promise.all(proxies.map((proxy) => proxy.close()));
    for (const table of tables) await admin.query(`DROP TABLE IF EXISTS "${table}"`);
    const { rows } = await admin.query<{ ledger: string | null }>(`SELECT to_regclass('btg_schema_migrations')::text AS ledger`);
    if (rows[0]?.ledger) await admin.query('DELETE FROM btg_schema_migrations WHERE table_name = ANY($1)', [tables]);
    for (const role of roles) {
      await admin.query(`DROP OWNED BY "${role}"`);
      await admin.query(`DROP ROLE "${role}"`);
    }
    [tables, roles, sinks, proxies] = [[], [], [], []];
  });

  const newTable = (name = randomName('btg_audit_test_')): string => {
    tables.push(name);
    return name;
  };

  const newRole = async (): Promise<string> => {
    const role = randomName('btg_audit_test_role_');
    await admin.query(`CREATE ROLE "${role}" LOGIN`);
    roles.push(role);
    return role;
  };

  const startProxy = async (): Promise<MutingProxy> => {
    const proxy = await MutingProxy.start(PG_PORT);
    proxies.push(proxy);
    return proxy;
  };

  const sinkFor = (table: string, options: Partial<PostgresAuditSinkOptions> = {}): PostgresAuditSink => {
    const sink = new PostgresAuditSink({ url: ADMIN_URL, table, instance: 'gw-1', ...options });
    sinks.push(sink);
    return sink;
  };

  const openSink = async (table: string, options: Partial<PostgresAuditSinkOptions> = {}): Promise<PostgresAuditSink> => {
    const sink = sinkFor(table, options);
    await sink.open();
    return sink;
  };

  const seqsOf = async (table: string, instance = 'gw-1'): Promise<number[]> => {
    const { rows } = await admin.query<{ seq: number }>(`SELECT seq::int AS seq FROM "${table}" WHERE instance = $1 ORDER BY seq`, [instance]);
    return rows.map(({ seq }) => seq);
  };

  /** Five records of gw-1 with an intact chain. */
  const seeded = async (): Promise<{ table: string; records: AuditRecord[] }> => {
    const table = newTable();
    const sink = await openSink(table);
    const records = await sink.append(Array.from({ length: 5 }, () => draft()));
    return { table, records };
  };

  it('creates the table and its indexes once, however many sinks open it and however often', async () => {
    const table = newTable();
    await Promise.all(['gw-1', 'gw-2', 'gw-3'].map((instance) => openSink(table, { instance })));
    const again = await openSink(table);
    await again.open();

    const ledger = await admin.query('SELECT version FROM btg_schema_migrations WHERE table_name = $1', [table]);
    expect(ledger.rows).toEqual([{ version: '001_audit' }]);
    const indexes = await admin.query<{ indexname: string }>('SELECT indexname FROM pg_indexes WHERE tablename = $1 ORDER BY indexname', [table]);
    expect(indexes.rows.map(({ indexname }) => indexname)).toEqual([`${table}_pkb_time`, `${table}_pkey`, `${table}_token_pkb_time`]);
  });

  it('gives tables whose long names differ only at the end their own indexes', async () => {
    const stem = randomName('btg_audit_test_').padEnd(62, '_');
    const names = [newTable(`${stem}a`), newTable(`${stem}b`)];
    await Promise.all(names.map((table) => openSink(table)));

    for (const table of names) {
      const { rows } = await admin.query('SELECT count(*)::int AS n FROM pg_indexes WHERE tablename = $1', [table]);
      expect(rows).toEqual([{ n: 3 }]);
    }
  });

  it('writes each batch as rows whose record column is the record exactly as hashed', async () => {
    const table = newTable();
    const sink = await openSink(table);
    const records = [...(await sink.append([draft(), draft(), draft()])), ...(await sink.append([draft()]))];

    const { rows } = await admin.query<{ seq: string; record: string }>(`SELECT seq, record FROM "${table}" ORDER BY seq`);
    expect(rows.map(({ seq }) => seq)).toEqual(['1', '2', '3', '4']);
    expect(rows.map(({ record }) => JSON.parse(record) as unknown)).toEqual(records);
    expect(sink.head).toEqual({ seq: 4, hash: records[3]!.hash });
    expect(await verifyPostgres(ADMIN_URL, { table })).toEqual({ ok: true, records: 4, instances: ['gw-1'], warnings: [] });
  });

  it('stores NUL characters a client may send, which jsonb and text columns cannot hold', async () => {
    const table = newTable();
    const sink = await openSink(table);
    const [record] = await sink.append([draft({ pkbId: 'p\u0000', userId: 'dr.\u0000', reason: 'NUL \u0000 in a grant reason' })]);

    expect(await sink.query({ pkbId: 'p\u0000', limit: 10 })).toEqual([record]);
    expect(await sink.query({ pkbId: 'p\uFFFD', limit: 10 })).toEqual([]);
    expect(await verifyPostgres(ADMIN_URL, { table })).toMatchObject({ ok: true, records: 1 });
  });

  it('continues the chain across a restart', async () => {
    const table = newTable();
    const first = await openSink(table);
    const before = await first.append([draft(), draft()]);
    await first.close();

    const second = await openSink(table);
    expect(second.head).toEqual({ seq: 2, hash: before[1]!.hash });
    const [next] = await second.append([draft()]);
    expect(next).toMatchObject({ seq: 3, prevHash: before[1]!.hash });
    expect(await verifyPostgres(ADMIN_URL, { table })).toMatchObject({ ok: true, records: 3 });
  });

  it('keeps one chain per instance in a shared table, each verifiable on its own', async () => {
    const table = newTable();
    const a = await openSink(table, { instance: 'gw-a' });
    const b = await openSink(table, { instance: 'gw-b' });
    await a.append([draft({ instance: 'gw-a' }), draft({ instance: 'gw-a' })]);
    await b.append([draft({ instance: 'gw-b' })]);
    await a.append([draft({ instance: 'gw-a' })]);
    await b.append([draft({ instance: 'gw-b' }), draft({ instance: 'gw-b' })]);

    expect(await seqsOf(table, 'gw-a')).toEqual([1, 2, 3]);
    expect(await seqsOf(table, 'gw-b')).toEqual([1, 2, 3]);
    expect(await verifyPostgres(ADMIN_URL, { table })).toMatchObject({ ok: true, records: 6, instances: ['gw-a', 'gw-b'] });
    expect(await verifyPostgres(ADMIN_URL, { table, instance: 'gw-b' })).toMatchObject({ ok: true, records: 3, instances: ['gw-b'] });
  });

  it('writes a batch far beyond the parameter limit in one statement, and verify pages through every row', async () => {
    const table = newTable();
    const a = await openSink(table, { instance: 'gw-a' });
    const b = await openSink(table, { instance: 'gw-b' });
    await a.append(Array.from({ length: 1500 }, () => draft({ instance: 'gw-a' })));
    await b.append(Array.from({ length: 4500 }, () => draft({ instance: 'gw-b' })));
    expect(await verifyPostgres(ADMIN_URL, { table })).toMatchObject({ ok: true, records: 6000 });

    await admin.query(`DELETE FROM "${table}" WHERE instance = 'gw-b' AND seq = 4321`);
    expect(await verifyPostgres(ADMIN_URL, { table })).toMatchObject({ ok: false, seq: 4321, problem: 'missing' });
  });

  it.each([
    {
      tampering: 'a field of a record edited',
      sql: [`UPDATE "{t}" SET record = replace(record, '"userId":"dr.jones"', '"userId":"dr.evil"') WHERE seq = 3`],
      found: { seq: 3, problem: 'edited' },
    },
    { tampering: 'a row deleted', sql: ['DELETE FROM "{t}" WHERE seq = 3'], found: { seq: 3, problem: 'missing' } },
    {
      tampering: 'two rows swapped',
      sql: ['UPDATE "{t}" SET seq = -3 WHERE seq = 3', 'UPDATE "{t}" SET seq = 3 WHERE seq = 2', 'UPDATE "{t}" SET seq = 2 WHERE seq = -3'],
      found: { seq: 2, problem: 'reordered' },
    },
    {
      tampering: 'a record moved to another patient in the lookup column only',
      sql: [`UPDATE "{t}" SET pkb_id = 'patient-9' WHERE seq = 4`],
      found: { seq: 4, problem: 'edited', message: expect.stringContaining('pkb_id') as unknown },
    },
    {
      tampering: 'a row forged at the end',
      sql: [`INSERT INTO "{t}" SELECT instance, 6, id, time, event, outcome, code, team_id, user_id, pkb_id, token_pkb_id, token_id, request_id, hash, hash,
              replace(replace(record, '"seq":5', '"seq":6'), '"prevHash":"' || prev_hash, '"prevHash":"' || hash) FROM "{t}" WHERE seq = 5`],
      found: { seq: 6, problem: 'edited' },
    },
  ])('names the first bad seq when $tampering', async ({ sql, found }) => {
    const { table } = await seeded();
    for (const statement of sql) await admin.query(statement.replaceAll('{t}', table));

    expect(await verifyPostgres(ADMIN_URL, { table })).toMatchObject({ ok: false, ...found });
  });

  it('does not mistake reformatted JSON for tampering: the hash is over the canonical form', async () => {
    const { table } = await seeded();
    await admin.query(`UPDATE "${table}" SET record = record::jsonb::text`);

    expect(await verifyPostgres(ADMIN_URL, { table })).toMatchObject({ ok: true, records: 5 });
  });

  it("answers a patient's records newest first, by addressed or token patient, across instances", async () => {
    const table = newTable();
    const a = await openSink(table, { instance: 'gw-a' });
    const b = await openSink(table, { instance: 'gw-b' });
    const [p1Old] = await a.append([draft({ instance: 'gw-a', pkbId: 'p1' })]);
    const [p2] = await a.append([draft({ instance: 'gw-a', pkbId: 'p2' })]);
    const [mismatch] = await a.append([draft({ instance: 'gw-a', event: 'denied', outcome: 'failure', code: 'patient_mismatch', pkbId: 'p2', tokenPkbId: 'p1' })]);
    const [p1OtherReplica] = await b.append([draft({ instance: 'gw-b', pkbId: 'p1' })]);
    const [both] = await a.append([draft({ instance: 'gw-a', pkbId: 'p1', tokenPkbId: 'p1' })]);

    expect(await a.query({ pkbId: 'p1', limit: 10 })).toEqual([both, p1OtherReplica, mismatch, p1Old]);
    expect(await b.query({ pkbId: 'p1', since: Date.parse(mismatch!.time), limit: 10 })).toEqual([both, p1OtherReplica, mismatch]);
    expect(await a.query({ pkbId: 'p1', limit: 2 })).toEqual([both, p1OtherReplica]);
    expect(await a.query({ pkbId: 'p2', limit: 10 })).toEqual([mismatch, p2]);
    expect(await a.query({ pkbId: 'p3', limit: 10 })).toEqual([]);
  });

  it("never answers with another patient's record, even when a lookup column was edited", async () => {
    const { table, records } = await seeded();
    await admin.query(`UPDATE "${table}" SET pkb_id = 'patient-9' WHERE seq = 2`);
    const sink = sinkFor(table);

    expect(records[1]!.pkbId).toBe('patient-1');
    expect(await sink.query({ pkbId: 'patient-9', limit: 10 })).toEqual([]);
  });

  it('group-commits 100 concurrent writes through the audit trail into fewer transactions', async () => {
    const table = newTable();
    const metrics = createMetrics({ collectDefaults: false });
    const trail = new AuditTrail([sinkFor(table)], { instance: 'gw-1', metrics });
    await trail.open();

    await Promise.all(Array.from({ length: 100 }, (_, i) => trail.write({ event: 'access', outcome: 'success', pkbId: `patient-${i % 7}` })));

    const { rows } = await admin.query<{ rows: number; transactions: number }>(
      `SELECT count(*)::int AS rows, count(DISTINCT xmin::text)::int AS transactions FROM "${table}"`,
    );
    const batches = (await metrics.auditWriteDuration.get()).values.find((v) => v.metricName === 'btg_audit_write_duration_seconds_count')?.value;
    expect(rows[0]!.rows).toBe(100);
    expect(rows[0]!.transactions).toBe(batches);
    expect(batches).toBeLessThan(100);
    expect(await verifyPostgres(ADMIN_URL, { table })).toMatchObject({ ok: true, records: 100 });
    await trail.close();
  });

  it('fails at once when nothing listens, and reports not ready', async () => {
    const closed = await startProxy();
    const port = closed.port;
    await closed.close(); // now nothing listens on that port
    const sink = sinkFor(newTable(), { url: urlAs('postgres', port) });

    await expect(sink.open()).rejects.toThrow(/ECONNREFUSED/);
    await expect(sink.append([draft()])).rejects.toThrow(/ECONNREFUSED/);
    await expect(sink.check()).rejects.toThrow(/ECONNREFUSED/);
    expect(sink.head).toEqual(GENESIS_HEAD);
  });

  it('gives up on a database that stops answering, and continues after rows whose commit was not acknowledged', async () => {
    const proxy = await startProxy();
    const table = newTable();
    const sink = await openSink(table, { url: urlAs('postgres', proxy.port), timeoutMs: 300 });
    const [first] = await sink.append([draft()]);

    proxy.mute();
    const committed = proxy.droppedUntil(READY_FOR_QUERY_IDLE);
    await expect(sink.append([draft(), draft()])).rejects.toThrow(/timeout/i);
    await expect(sink.check()).rejects.toThrow(/timeout/i);
    expect(sink.head).toEqual({ seq: 1, hash: first!.hash });

    // The server did commit that batch; only the acknowledgement was lost on the way back.
    await committed;
    expect(await seqsOf(table)).toEqual([1, 2, 3]);
    proxy.unmute();
    const [next] = await sink.append([draft()]);
    expect(next!.seq).toBe(4);
    expect(await verifyPostgres(ADMIN_URL, { table })).toMatchObject({ ok: true, records: 4 });
    await sink.close();
  });

  it('runs on a role allowed only SELECT and INSERT, and heals once inserts are allowed again', async () => {
    const table = newTable();
    await openSink(table); // the owner creates the table
    const role = await newRole();
    await admin.query(`GRANT SELECT, INSERT ON "${table}" TO "${role}"`);
    await admin.query(`GRANT SELECT ON btg_schema_migrations TO "${role}"`);
    const sink = await openSink(table, { url: urlAs(role) });
    const before = await sink.append([draft(), draft()]);

    await admin.query(`REVOKE INSERT ON "${table}" FROM "${role}"`);
    await expect(sink.append([draft()])).rejects.toMatchObject({ code: '42501' });
    await expect(sink.check()).rejects.toThrow(/no INSERT privilege/);
    expect(sink.head).toEqual({ seq: 2, hash: before[1]!.hash });
    expect(await seqsOf(table)).toEqual([1, 2]);

    await admin.query(`GRANT INSERT ON "${table}" TO "${role}"`);
    await sink.check();
    const [next] = await sink.append([draft()]);
    expect(next).toMatchObject({ seq: 3, prevHash: before[1]!.hash });
    expect(await verifyPostgres(ADMIN_URL, { table })).toMatchObject({ ok: true, records: 3 });
  });

  it('refuses a second writer with the same instance name loudly instead of forking the chain', async () => {
    const table = newTable();
    const logged: string[] = [];
    const first = await openSink(table);
    const second = await openSink(table, { logger: createLogger('error', { write: (line: string) => logged.push(line) }) });
    await first.append([draft()]);

    await expect(second.append([draft()])).rejects.toMatchObject({ code: '23505' });
    expect(logged.join('')).toContain('another writer uses this audit instance name');
    await second.append([draft()]);
    await expect(first.append([draft()])).rejects.toMatchObject({ code: '23505' });

    expect(await seqsOf(table)).toEqual([1, 2]);
    expect(await verifyPostgres(ADMIN_URL, { table })).toMatchObject({ ok: true, records: 2 });
  });

  it('keeps its own head when acknowledged rows vanish, so verify shows the gap', async () => {
    const table = newTable();
    const sink = await openSink(table);
    await sink.append([draft(), draft(), draft()]);
    await admin.query(`DELETE FROM "${table}" WHERE seq = 3`);
    // Any failed batch makes the sink re-read its head from the table.
    await expect(sink.append([draft({ time: 'not a time' })])).rejects.toThrow();

    const [next] = await sink.append([draft()]);
    expect(next!.seq).toBe(4);
    expect(await verifyPostgres(ADMIN_URL, { table })).toMatchObject({ ok: false, seq: 3, problem: 'missing' });
  });

  it('refuses to work once closed', async () => {
    const sink = await openSink(newTable());
    await sink.close();

    await expect(sink.append([draft()])).rejects.toThrow(/closed/);
    await expect(sink.check()).rejects.toThrow(/closed/);
  });

  it('is not ready while its table is missing', async () => {
    const table = newTable();
    const sink = await openSink(table);
    await sink.check();
    await admin.query(`DROP TABLE "${table}"`);

    await expect(sink.check()).rejects.toMatchObject({ code: '42P01' });
  });
});

