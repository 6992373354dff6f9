import pg from 'pg';
import type { Logger } from '../logger.js';
import { GENESIS_HEAD, HashChain, type ChainHead } from './chain.js';
import { migrateAuditTable } from './postgres-migrate.js';
import { columnArrays, connectionConfig, insertStatement, lookupKey, tableIdentifier } from './postgres-table.js';
import { parseRecordLine } from './record-line.js';
import type { AuditDraft, AuditRecord } from './record.js';
import { Serial } from './serial.js';
import type { AuditQuery, AuditReader, AuditSink } from './sink.js';

export interface PostgresAuditSinkOptions {
  url: string;
  table: string;
  /** This replica's chain name: the head is this instance's last row in the table. */
  instance: string;
  logger?: Logger;
  /** Bound on connecting and on each statement; default 5 s. */
  timeoutMs?: number;
}

const UNIQUE_VIOLATION = '23505';

/**
 * PostgreSQL audit sink: every replica writes one table, each on its own chain (`instance`). A batch
 * is one INSERT statement, so one transaction, durable once it returns. After a failure the head is
 * re-read from the table before the next batch: if the commit went through but its acknowledgement
 * was lost, the rows are there and the chain continues after them instead of forking.
 */
export class PostgresAuditSink implements AuditSink, AuditReader {
  readonly name = 'postgres';
  readonly #url: string;
  readonly #table: string;
  readonly #instance: string;
  readonly #logger: Logger | undefined;
  readonly #timeoutMs: number | undefined;
  readonly #sql: { check: string; head: string; insert: string; query: string };
  readonly #chain = new HashChain();
  readonly #serial = new Serial();
  #pool: pg.Pool | undefined;
  /** False until the head is read from the table, and again after a failed batch. */
  #headKnown = false;
  /** Set once a head was read: from then on the in-memory head is a witness too. */
  #opened = false;
  #closed = false;

  constructor(options: PostgresAuditSinkOptions) {
    const table = tableIdentifier(options.table);
    this.#url = options.url;
    this.#table = options.table;
    this.#instance = options.instance;
    this.#logger = options.logger;
    this.#timeoutMs = options.timeoutMs;
    this.#sql = {
      check: `SELECT has_table_privilege($1, 'INSERT') AS writable`,
      head: `SELECT seq, hash FROM ${table} WHERE instance = $1 ORDER BY seq DESC LIMIT 1`,
      insert: insertStatement(options.table),
      // Two index scans, each stopping after `limit` rows, instead of one OR over both columns.
      query: `SELECT record FROM (
          (SELECT time, instance, seq, record FROM ${table} WHERE pkb_id = $1 AND time >= $2 ORDER BY time DESC LIMIT $3)
          UNION ALL
          (SELECT time, instance, seq, record FROM ${table}
            WHERE token_pkb_id = $1 AND pkb_id IS DISTINCT FROM $1 AND time >= $2 ORDER BY time DESC LIMIT $3)
        ) found ORDER BY time DESC, instance, seq DESC LIMIT $3`,
    };
  }

  get head(): ChainHead {
    return this.#chain.head;
  }

  /** Creates or migrates the table and reads this instance's chain head. */
  open(): Promise<void> {
    this.#closed = false;
    return this.#serial.run(async () => {
      const pool = this.#connect();
      await migrateAuditTable(pool, this.#table);
      await this.#readHead(pool);
    });
  }

  /** Batches run one at a time even if callers overlap: each links to the head the previous left. */
  append(drafts: readonly AuditDraft[]): Promise<AuditRecord[]> {
    return this.#serial.run(() => this.#append(drafts));
  }

  /** Beyond reachability: the table exists and this role may insert (a revoked grant fails every batch). */
  async check(): Promise<void> {
    const { rows } = await this.#connect().query<{ writable: boolean }>(this.#sql.check, [tableIdentifier(this.#table)]);
    if (!rows[0]?.writable) throw new Error(`no INSERT privilege on audit table ${this.#table}`);
  }

  async query({ pkbId, since, limit }: AuditQuery): Promise<AuditRecord[]> {
    if (limit <= 0) return [];
    const { rows } = await this.#connect().query<{ record: string }>(this.#sql.query, [lookupKey(pkbId), since === undefined ? '-infinity' : new Date(since), limit]);
    // The lookup columns only find candidates; the hashed record decides (and an edited row shows no other patient).
    return rows
      .map(({ record }) => parseRecordLine(record))
      .filter((record): record is AuditRecord => record !== undefined && (record.pkbId === pkbId || record.tokenPkbId === pkbId));
  }

  /** Ends the pool. Statements in flight are bounded by the timeout, so this cannot hang on an outage. */
  close(): Promise<void> {
    this.#closed = true;
    return this.#serial.run(async () => {
      const pool = this.#pool;
      this.#pool = undefined;
      this.#headKnown = false;
      await pool?.end();
    });
  }

  async #append(drafts: readonly AuditDraft[]): Promise<AuditRecord[]> {
    if (drafts.length === 0) return [];
    const pool = this.#connect();
    try {
      if (!this.#headKnown) await this.#readHead(pool);
      const batch = this.#chain.linkWithLines(drafts);
      await pool.query(this.#sql.insert, columnArrays(batch));
      this.#chain.advance(batch.records);
      return batch.records;
    } catch (err) {
      this.#headKnown = false;
      if ((err as { code?: string }).code === UNIQUE_VIOLATION) {
        this.#logger?.error({ table: this.#table, instance: this.#instance }, 'another writer uses this audit instance name: give every replica its own audit.instance');
      }
      throw err;
    }
  }

  /**
   * The table is the truth, except when it lost acknowledged rows (deleted under us): then the chain
   * continues from memory, so the gap shows up in `audit verify` instead of being papered over.
   */
  async #readHead(pool: pg.Pool): Promise<void> {
    const { rows } = await pool.query<{ seq: string; hash: string }>(this.#sql.head, [this.#instance]);
    const found = rows[0] ? { seq: Number(rows[0].seq), hash: rows[0].hash } : GENESIS_HEAD;
    const known = this.#chain.head;
    if (this.#opened && found.seq < known.seq) {
      this.#logger?.error({ table: this.#table, instance: this.#instance, seq: known.seq, inTable: found.seq }, 'audit records acknowledged earlier are missing from the table');
    } else {
      this.#chain.reset(found);
    }
    this.#opened = true;
    this.#headKnown = true;
  }

  #connect(): pg.Pool {
    if (this.#closed) throw new Error('audit postgres sink is closed');
    if (this.#pool) return this.#pool;
    const pool = new pg.Pool(connectionConfig(this.#url, this.#timeoutMs));
    // An idle connection that breaks (server restart, network) must not crash the process.
    pool.on('error', (err) => this.#logger?.warn({ err, table: this.#table }, 'idle audit database connection failed'));
    this.#pool = pool;
    return pool;
  }
}
