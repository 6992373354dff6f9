import { createHash } from 'node:crypto';
import type { PoolConfig } from 'pg';
import type { LinkedBatch } from './chain.js';
import type { AuditRecord } from './record.js';

/**
 * The PostgreSQL audit table as the sink and `audit verify` both see it: its name, its columns and
 * how to reach it. The layout itself is migrations/postgres/001_audit.sql.
 */

const TABLE_NAME = /^[a-z_][a-z0-9_]{0,62}$/;
/** Longest index-name prefix that leaves room for the longest suffix within PostgreSQL's 63 bytes. */
const INDEX_PREFIX_MAX = 48;

export const DEFAULT_TIMEOUT_MS = 5_000;

/**
 * The table name quoted for SQL. The config schema restricts it already, but SQL is built from it,
 * so it is checked again here. Quoted because a valid name can still be a keyword (`user`).
 */
export function tableIdentifier(table: string): string {
  if (!TABLE_NAME.test(table)) throw new Error(`audit table name ${JSON.stringify(table)} is not a lower-case SQL identifier`);
  return `"${table}"`;
}

/**
 * Index names derive from the table name. PostgreSQL truncates longer names, and two truncated names
 * could coincide, making `CREATE INDEX IF NOT EXISTS` skip one table's index: long names get a hash.
 */
export function indexPrefix(table: string): string {
  if (table.length <= INDEX_PREFIX_MAX) return table;
  const digest = createHash('sha256').update(table).digest('hex').slice(0, 8);
  return `${table.slice(0, INDEX_PREFIX_MAX - digest.length - 1)}_${digest}`;
}

/** How much longer than the server's own cancel the client waits before it gives up on a silent server. */
const SILENT_SERVER_GRACE_MS = 500;

/**
 * Fails fast instead of hanging a request: connecting and every statement are bounded. Commits are
 * synchronous whatever the server default, because an `access` record must be durable (SPEC 6).
 */
export function connectionConfig(url: string, timeoutMs = DEFAULT_TIMEOUT_MS): PoolConfig {
  return {
    connectionString: url,
    max: 4,
    connectionTimeoutMillis: timeoutMs,
    // The server cancels a slow statement with a clear error; the client-side limit covers a silent network.
    statement_timeout: timeoutMs,
    query_timeout: timeoutMs + SILENT_SERVER_GRACE_MS,
    idleTimeoutMillis: 30_000,
    keepAlive: true,
    application_name: 'btg-gateway audit',
    options: '-c synchronous_commit=on',
  };
}

type ColumnType = 'text' | 'bigint' | 'timestamptz';
type ColumnValue = string | number | null;

interface Column {
  readonly name: string;
  readonly type: ColumnType;
  readonly of: (record: AuditRecord) => ColumnValue;
}

/**
 * PostgreSQL text cannot hold NUL, which JSON (and so a record field) can. The lookup columns carry
 * a stand-in; the record itself keeps the original, escaped in its JSON.
 */
export function lookupKey(value: string): string {
  return value.replaceAll('\0', '\uFFFD');
}

function indexable(value: string | undefined): string | null {
  return value === undefined ? null : lookupKey(value);
}

/** Columns copying fields of the record for lookups, in table order; `record` itself follows them. */
export const LOOKUP_COLUMNS: readonly Column[] = [
  { name: 'instance', type: 'text', of: (r) => indexable(r.instance) },
  { name: 'seq', type: 'bigint', of: (r) => r.seq },
  { name: 'id', type: 'text', of: (r) => indexable(r.id) },
  { name: 'time', type: 'timestamptz', of: (r) => r.time },
  { name: 'event', type: 'text', of: (r) => indexable(r.event) },
  { name: 'outcome', type: 'text', of: (r) => indexable(r.outcome) },
  { name: 'code', type: 'text', of: (r) => indexable(r.code) },
  { name: 'team_id', type: 'text', of: (r) => indexable(r.teamId) },
  { name: 'user_id', type: 'text', of: (r) => indexable(r.userId) },
  { name: 'pkb_id', type: 'text', of: (r) => indexable(r.pkbId) },
  { name: 'token_pkb_id', type: 'text', of: (r) => indexable(r.tokenPkbId) },
  { name: 'token_id', type: 'text', of: (r) => indexable(r.tokenId) },
  { name: 'request_id', type: 'text', of: (r) => indexable(r.request?.id) },
  { name: 'prev_hash', type: 'text', of: (r) => r.prevHash },
  { name: 'hash', type: 'text', of: (r) => r.hash },
];

/**
 * One array per column, the parameters of an `INSERT … SELECT * FROM unnest(…)`. The `record`
 * column takes the chain's own line: the canonical text that was hashed (JSON escapes NUL), plus
 * `hash`, so nothing is serialised a second time.
 */
export function columnArrays(batch: LinkedBatch): ColumnValue[][] {
  return [...LOOKUP_COLUMNS.map((column) => batch.records.map(column.of)), batch.lines.map((line) => line.trimEnd())];
}

/** `INSERT` of any number of rows with one parameter per column, far below the 65535 limit. */
export function insertStatement(table: string): string {
  const columns = [...LOOKUP_COLUMNS, { name: 'record', type: 'text' }];
  const names = columns.map(({ name }) => name).join(', ');
  const arrays = columns.map(({ type }, i) => `$${i + 1}::${type}[]`).join(', ');
  return `INSERT INTO ${tableIdentifier(table)} (${names}) SELECT * FROM unnest(${arrays})`;
}

/** Whether a stored lookup column still says what the record says (as the pg driver returns it). */
export function columnAgrees(column: Column, stored: unknown, record: AuditRecord): boolean {
  const expected = column.of(record);
  if (expected === null || stored === null) return expected === stored;
  switch (column.type) {
    case 'bigint':
      return String(stored) === String(expected);
    case 'timestamptz':
      return stored instanceof Date && stored.getTime() === Date.parse(String(expected));
    case 'text':
      return stored === expected;
  }
}
