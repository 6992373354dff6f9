import { randomUUID } from 'node:crypto';
import { GatewayError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { GatewayMetrics } from '../metrics.js';
import type { AuditDraft } from './record.js';
import type { AuditReader, AuditSink } from './sink.js';

/** What callers write: the trail stamps the instance and, unless given, the id and time. */
export type AuditInput = Omit<AuditDraft, 'id' | 'time' | 'instance'> & Partial<Pick<AuditDraft, 'id' | 'time'>>;

export interface AuditTrailOptions {
  instance: string;
  metrics?: GatewayMetrics;
  now?: () => Date;
  logger?: Logger;
}

export interface AuditCheck {
  ok: boolean;
  failures: { sink: string; message: string }[];
}

interface Pending {
  draft: AuditDraft;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * Fans records out to every sink with group commit: while one batch is being made durable, new
 * records queue, and the next batch takes all of them (one write + one fsync per sink). A caller
 * resolves once its batch is durable in every sink and is refused (503 audit_unavailable) if any
 * sink failed that batch: "no audit, no access". A sink that failed keeps its chain head, so the
 * refused records may still be in the sinks that succeeded, each chain intact.
 */
export class AuditTrail {
  readonly #sinks: readonly AuditSink[];
  readonly #instance: string;
  readonly #metrics: GatewayMetrics | undefined;
  readonly #now: () => Date;
  readonly #logger: Logger | undefined;
  #queue: Pending[] = [];
  #draining: Promise<void> | undefined;
  #closed = false;

  constructor(sinks: AuditSink[], options: AuditTrailOptions) {
    this.#sinks = [...sinks];
    this.#instance = options.instance;
    this.#metrics = options.metrics;
    this.#now = options.now ?? (() => new Date());
    this.#logger = options.logger;
  }

  async open(): Promise<void> {
    await Promise.all(this.#sinks.map((sink) => sink.open()));
    this.#closed = false;
  }

  /** Makes the record durable in every sink; rejects GatewayError(503, 'audit_unavailable') otherwise. */
  write(input: AuditInput): Promise<void> {
    if (this.#closed) return Promise.reject(unavailable(new Error('audit trail is closed')));
    let draft: AuditDraft;
    try {
      // A value JCS cannot hash (NaN, a bigint) would fail the whole batch; refuse just this caller.
      draft = hashable({
        ...input,
        id: input.id ?? randomUUID(),
        time: input.time ?? this.#now().toISOString(),
        instance: this.#instance,
      }) as AuditDraft;
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise((resolve, reject) => {
      this.#queue.push({ draft, resolve, reject });
      // Started on a microtask so records written in the same tick share the first batch.
      this.#draining ??= Promise.resolve().then(() => this.#drain());
    });
  }

  async #drain(): Promise<void> {
    try {
      while (this.#queue.length > 0) await this.#commit(this.#queue.splice(0));
    } finally {
      // Whatever happened, the next write must start a new drain rather than wait on this one.
      this.#draining = undefined;
    }
  }

  async #commit(batch: Pending[]): Promise<void> {
    const drafts = batch.map(({ draft }) => draft);
    const endTimer = this.#metrics?.auditWriteDuration.startTimer();
    const results = await Promise.allSettled(this.#sinks.map((sink) => sink.append(drafts)));
    endTimer?.();
    const failures = results.flatMap((result, i) => (result.status === 'rejected' ? [{ sink: this.#sinks[i]!, err: result.reason as unknown }] : []));
    for (const { sink, err } of failures) {
      this.#metrics?.auditFailures.inc({ sink: sink.name });
      this.#logger?.error({ err, sink: sink.name, records: drafts.map(({ id }) => id) }, 'audit batch could not be made durable');
    }
    if (failures.length > 0) {
      const error = unavailable(failures[0]!.err);
      for (const { reject } of batch) reject(error);
      return;
    }
    for (const { event } of drafts) this.#metrics?.auditRecords.inc({ event });
    for (const { resolve } of batch) resolve();
  }

  async check(): Promise<AuditCheck> {
    const results = await Promise.allSettled(this.#sinks.map((sink) => sink.check()));
    const failures = results.flatMap((result, i) =>
      result.status === 'rejected' ? [{ sink: this.#sinks[i]!.name, message: messageOf(result.reason) }] : [],
    );
    return { ok: failures.length === 0, failures };
  }

  /** Sinks that can answer `GET /audit`. */
  readers(): AuditReader[] {
    return this.#sinks.filter(isReader);
  }

  /** Refuses new records, waits until every queued one is settled, closes the sinks. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#draining;
    const results = await Promise.allSettled(this.#sinks.map((sink) => sink.close()));
    for (const result of results) {
      if (result.status === 'rejected') this.#logger?.warn({ err: result.reason as unknown }, 'closing an audit sink failed');
    }
  }
}

function unavailable(cause: unknown): GatewayError {
  return new GatewayError(503, 'audit_unavailable', 'The audit trail cannot be written', {}, { cause });
}

function isReader(sink: AuditSink): sink is AuditSink & AuditReader {
  return typeof (sink as Partial<AuditReader>).query === 'function';
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Makes a draft safe to hash in one walk: lone surrogates (which JCS refuses, and a client can send
 * in `reason`) are replaced, never failed on; values JSON cannot carry throw. Copy-on-write: this
 * runs for every record, and almost every record comes back as the very same object.
 */
function hashable(value: unknown): unknown {
  switch (typeof value) {
    case 'string':
      return value.isWellFormed() ? value : value.toWellFormed();
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`audit record: ${value} is not representable in JSON`);
      return value;
    case 'boolean':
    case 'undefined':
      return value;
    case 'object':
      if (value === null) return value;
      return Array.isArray(value) ? hashableArray(value) : hashableObject(value as Record<string, unknown>);
    default:
      throw new TypeError(`audit record: a ${typeof value} is not a JSON value`);
  }
}

function hashableArray(array: readonly unknown[]): unknown[] {
  let copy: unknown[] | undefined;
  array.forEach((element, i) => {
    if (element === undefined) throw new TypeError('audit record: undefined is not a JSON value');
    const safe = hashable(element);
    if (safe !== element) (copy ??= [...array])[i] = safe;
  });
  return copy ?? (array as unknown[]);
}

function hashableObject(object: Record<string, unknown>): Record<string, unknown> {
  let copy: Record<string, unknown> | undefined;
  for (const key of Object.keys(object)) {
    const member = object[key];
    const safeKey = key.isWellFormed() ? key : key.toWellFormed();
    const safe = hashable(member);
    if (safe === member && safeKey === key) continue;
    copy ??= { ...object };
    if (safeKey !== key) delete copy[key];
    copy[safeKey] = safe;
  }
  return copy ?? object;
}
