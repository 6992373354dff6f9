import { readdir, readFile } from 'node:fs/promises';
import type { Pool, PoolClient } from 'pg';
import { indexPrefix, tableIdentifier } from './postgres-table.js';

/** Beside dist/ and src/ alike; package.json ships the folder. */
const MIGRATIONS_DIR = new URL('../../migrations/postgres/', import.meta.url);

const LEDGER = 'btg_schema_migrations';
const CREATE_LEDGER = `CREATE TABLE IF NOT EXISTS ${LEDGER} (
  table_name text NOT NULL,
  version    text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (table_name, version)
)`;
const UNDEFINED_TABLE = '42P01';

interface Migration {
  version: string;
  sql: string;
}

/**
 * Brings an audit table up to date. Applied files are recorded in `btg_schema_migrations` per table,
 * so a started gateway runs no DDL at all: its role may then hold only SELECT and INSERT on the
 * audit table, which keeps a compromised gateway from rewriting history. Pending files run in one
 * transaction under an advisory lock, so replicas starting together apply each file once; the files
 * are idempotent too, so an operator may also apply them by hand.
 */
export async function migrateAuditTable(pool: Pool, table: string): Promise<void> {
  const migrations = await loadMigrations();
  const applied = await appliedVersions(pool, table);
  if (migrations.every(({ version }) => applied.has(version))) return;
  const client = await pool.connect();
  let failure: Error | undefined;
  try {
    await client.query('BEGIN');
    await client.query(`SELECT pg_advisory_xact_lock(hashtext('${LEDGER}'))`);
    await client.query(CREATE_LEDGER);
    const done = await appliedVersions(client, table);
    for (const { version, sql } of migrations) {
      if (done.has(version)) continue;
      await client.query(render(sql, table));
      await client.query(`INSERT INTO ${LEDGER} (table_name, version) VALUES ($1, $2)`, [table, version]);
    }
    await client.query('COMMIT');
  } catch (err) {
    // Released with the error, the connection is closed, which rolls the transaction back.
    failure = err instanceof Error ? err : new Error(String(err));
    throw err;
  } finally {
    client.release(failure);
  }
}

async function loadMigrations(): Promise<Migration[]> {
  const names = (await readdir(MIGRATIONS_DIR)).filter((name) => name.endsWith('.sql')).sort();
  return Promise.all(names.map(async (name) => ({ version: name.slice(0, -'.sql'.length), sql: await readFile(new URL(name, MIGRATIONS_DIR), 'utf8') })));
}

async function appliedVersions(db: Pool | PoolClient, table: string): Promise<Set<string>> {
  try {
    const { rows } = await db.query<{ version: string }>(`SELECT version FROM ${LEDGER} WHERE table_name = $1`, [table]);
    return new Set(rows.map(({ version }) => version));
  } catch (err) {
    if ((err as { code?: string }).code === UNDEFINED_TABLE) return new Set();
    throw err;
  }
}

function render(sql: string, table: string): string {
  return sql.replaceAll('{{table}}', tableIdentifier(table)).replaceAll('{{index}}', indexPrefix(table));
}
