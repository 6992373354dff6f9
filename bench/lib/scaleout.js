// The scale-out gateway configuration (Redis store, PostgreSQL audit sink), optional because it
// needs both services and a build that has the postgres sink.
import { execFileSync } from 'node:child_process';
import { canConnect, findBinary } from './processes.js';

export const REDIS_URL = 'redis://127.0.0.1:6379';
export const POSTGRES_URL = 'postgres://postgres@127.0.0.1:5432/test';

/** Why the scale-out case cannot run here, or undefined when Redis and PostgreSQL answer. */
export async function scaleoutUnavailable() {
  const missing = [];
  if (!(await canConnect(6379))) missing.push(`Redis (${REDIS_URL})`);
  if (!(await canConnect(5432))) missing.push(`PostgreSQL (${POSTGRES_URL})`);
  return missing.length ? `${missing.join(' and ')} unreachable` : undefined;
}

/** Names unique to this bench run, so concurrent or earlier runs never share keys or rows. */
export function scaleoutSettings() {
  const suffix = `${process.pid}_${Date.now().toString(36)}`;
  return {
    table: `bench_audit_${suffix}`,
    store: { type: 'redis', url: REDIS_URL, keyPrefix: `btg-bench:${suffix}:` },
  };
}

/**
 * Counts successful `access` rows with psql, when psql is on PATH and the table has the columns
 * the sink is expected to have (`event`, `outcome`); otherwise says why it could not.
 */
export function countPostgresAccess(table) {
  return psql(`select count(*) from "${table}" where event = 'access' and outcome = 'success'`);
}

/** Drops the bench's own audit table (best effort; Redis keys expire by themselves). */
export function dropTable(table) {
  return psql(`drop table if exists "${table}"`);
}

function psql(sql) {
  if (!findBinary('psql')) return { error: 'psql not on PATH' };
  try {
    const out = execFileSync('psql', [POSTGRES_URL, '-Atc', sql], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return { value: out.trim() };
  } catch (err) {
    return { error: String(err.stderr ?? err.message).trim().split('\n')[0] };
  }
}
