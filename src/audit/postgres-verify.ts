import pg from 'pg';
import { LOOKUP_COLUMNS, columnAgrees, connectionConfig, tableIdentifier } from './postgres-table.js';
import { parseRecordLine } from './record-line.js';
import type { AuditRecord } from './record.js';
import { ChainVerifier, type VerifyFailure, type VerifyResult } from './verify.js';

export interface VerifyPostgresOptions {
  /** Default `btg_audit`, as in the config schema. */
  table?: string;
  /** Only this instance's chain; default every chain in the table. */
  instance?: string;
}

const PAGE_ROWS = 1000;

type Row = Record<string, unknown> & { instance: string; seq: string; record: string };

/**
 * Verifies the chains of an audit table, streamed in (instance, seq) order a page at a time (keyset
 * pagination on the primary key), in constant memory. The chain is checked from the `record` column
 * alone; the lookup columns must also agree with it, since `GET /audit` finds records by them and an
 * edited `pkb_id` would hide a record from its patient. A broken chain is reported first, then the
 * first row whose columns disagree.
 */
export async function verifyPostgres(url: string, options: VerifyPostgresOptions = {}): Promise<VerifyResult> {
  const client = new pg.Client(connectionConfig(url));
  await client.connect();
  try {
    const verifier = new ChainVerifier();
    let disagreement: VerifyFailure | undefined;
    for await (const row of rows(client, tableIdentifier(options.table ?? 'btg_audit'), options.instance)) {
      const record = parseRecordLine(row.record);
      if (verifier.push(record ?? row.record)) break;
      disagreement ??= record && columnsDisagree(row, record);
    }
    const result = verifier.finish();
    return result.ok && disagreement ? disagreement : result;
  } finally {
    await client.end();
  }
}

async function* rows(client: pg.Client, table: string, instance: string | undefined): AsyncGenerator<Row> {
  const columns = ['record', ...LOOKUP_COLUMNS.map(({ name }) => name)].join(', ');
  let after: Row | undefined;
  for (;;) {
    const { rows: page } = await client.query<Row>(pageQuery(table, columns, instance, after));
    yield* page;
    if (page.length < PAGE_ROWS) return;
    after = page.at(-1);
  }
}

function pageQuery(table: string, columns: string, instance: string | undefined, after: Row | undefined): pg.QueryConfig {
  const conditions: string[] = [];
  const values: unknown[] = [];
  if (instance !== undefined) conditions.push(`instance = $${values.push(instance)}`);
  if (after) conditions.push(`(instance, seq) > ($${values.push(after.instance)}, $${values.push(after.seq)})`);
  const where = conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : '';
  return { text: `SELECT ${columns} FROM ${table} ${where} ORDER BY instance, seq LIMIT ${PAGE_ROWS}`, values };
}

function columnsDisagree(row: Row, record: AuditRecord): VerifyFailure | undefined {
  const column = LOOKUP_COLUMNS.find((candidate) => !columnAgrees(candidate, row[candidate.name], record));
  if (!column) return undefined;
  return {
    ok: false,
    seq: record.seq,
    problem: 'edited',
    message: `seq ${record.seq} (instance ${record.instance}): column ${column.name} no longer matches the hashed record: the row was edited`,
  };
}
