import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { GatewayConfig } from '../config/schema.js';
import type { Logger } from '../logger.js';
import type { GrantRecord } from '../store/grant-store.js';
import type { GrantNotice, GrantNotifier } from './grant-notifier.js';

export type WebhookSettings = NonNullable<GatewayConfig['notify']['webhook']>;

/** Why a notification was not delivered; a bounded set, fit for a metric label. */
export type DeliveryFailure = 'rejected' | 'exhausted' | 'overflow' | 'shutdown';

export interface WebhookNotifierOptions {
  logger: Logger;
  /** The gateway instance name, as in the audit trail. */
  instance: string;
  now?: () => number;
  /** Called once for every notification that was not delivered (e.g. to count it in a metric). */
  onDeliveryFailed?: (reason: DeliveryFailure) => void;
  /** Waits out the backoff between attempts. */
  sleep?: (ms: number) => Promise<void>;
  /** How long `close()` lets attempts in flight finish before aborting them. Default 5 s. */
  closeTimeoutMs?: number;
}

/** The JSON body POSTed to the webhook. Identifiers only: never the token itself. */
export interface WebhookPayload {
  type: 'btg.grant' | 'btg.revoke';
  /** Unique per notification and the same across retries; also sent as `Idempotency-Key`. */
  id: string;
  time: string;
  instance: string;
  pkbId: string;
  teamId: string;
  userId: string;
  tokenId: string;
  reason?: string;
  issuedAt: string;
  expiresAt: string;
}

/**
 * Notifications waiting for delivery, retries included. A full set means the webhook has been
 * failing for a while; new notifications are then refused (logged and reported as `overflow`)
 * rather than evicting older ones: the older ones are no less worth delivering, refusing needs no
 * abort of work in progress, and the audit trail stays the authoritative record either way.
 */
const MAX_PENDING = 1000;
const MAX_DELAY_MS = 30_000;
const CLOSE_TIMEOUT_MS = 5_000;

type Attempt =
  | { kind: 'delivered' }
  | { kind: 'retry'; detail: string; retryAfterMs?: number }
  | { kind: 'final'; detail: string; failure: DeliveryFailure };

/**
 * Tells an external system (the patients' teams, the PKB GUI) about each BTG grant and revocation by
 * POSTing a small JSON document to `notify.webhook.url`, with retries. Delivery happens in the
 * background: `notify` returns at once and a failing webhook never affects a grant.
 */
export class WebhookNotifier implements GrantNotifier {
  private readonly inFlight = new Set<Promise<void>>();
  private readonly stopRetrying = new AbortController();
  private readonly abortAttempts = new AbortController();
  private readonly retriesStopped: Promise<void>;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(
    private readonly settings: WebhookSettings,
    private readonly options: WebhookNotifierOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.sleep = options.sleep ?? unreferencedDelay;
    const signal = this.stopRetrying.signal;
    this.retriesStopped = new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
  }

  notify(kind: GrantNotice, grant: GrantRecord): void {
    if (this.stopRetrying.signal.aborted) return this.fail(grant, 'shutdown', 'notifier closed');
    if (this.inFlight.size >= MAX_PENDING) return this.fail(grant, 'overflow', `${MAX_PENDING} notifications pending`);
    const payload = this.payload(kind, grant);
    const delivery = this.deliver(payload, grant).catch((error: unknown) => {
      this.options.logger.error({ err: error, tokenId: grant.jti }, 'webhook notifier failed unexpectedly');
    });
    this.inFlight.add(delivery);
    void delivery.then(() => this.inFlight.delete(delivery));
  }

  /** Stops retrying, lets attempts in flight finish for a bounded time, then aborts them. */
  async close(): Promise<void> {
    this.stopRetrying.abort();
    const settled = Promise.allSettled([...this.inFlight]).then(() => 'settled' as const);
    const grace = unreferencedDelay(this.options.closeTimeoutMs ?? CLOSE_TIMEOUT_MS).then(() => 'grace over' as const);
    const first = await Promise.race([settled, grace]);
    if (first === 'grace over') {
      this.abortAttempts.abort();
      await settled;
    }
  }

  private payload(kind: GrantNotice, grant: GrantRecord): WebhookPayload {
    return {
      type: kind === 'grant' ? 'btg.grant' : 'btg.revoke',
      id: randomUUID(),
      time: new Date(this.now()).toISOString(),
      instance: this.options.instance,
      pkbId: grant.pkbId,
      teamId: grant.teamId,
      userId: grant.userId,
      tokenId: grant.jti,
      ...(grant.reason === undefined ? {} : { reason: grant.reason }),
      issuedAt: new Date(grant.issuedAt).toISOString(),
      expiresAt: new Date(grant.expiresAt).toISOString(),
    };
  }

  private async deliver(payload: WebhookPayload, grant: GrantRecord): Promise<void> {
    const body = JSON.stringify(payload);
    for (let retry = 0; ; retry++) {
      const attempt = await this.attempt(payload.id, body);
      if (attempt.kind === 'delivered') return;
      if (attempt.kind === 'final') return this.fail(grant, attempt.failure, attempt.detail, retry + 1);
      if (retry >= this.settings.retries) return this.fail(grant, 'exhausted', attempt.detail, retry + 1);
      const wait = attempt.retryAfterMs ?? backoffDelay(retry, this.settings.backoffMs);
      this.options.logger.debug({ tokenId: grant.jti, detail: attempt.detail, waitMs: wait }, 'webhook notification will be retried');
      const stopped = await Promise.race([this.sleep(wait).then(() => false), this.retriesStopped.then(() => true)]);
      if (stopped) return this.fail(grant, 'shutdown', attempt.detail, retry + 1);
    }
  }

  private async attempt(id: string, body: string): Promise<Attempt> {
    const headers = new Headers(this.settings.headers);
    headers.set('content-type', 'application/json');
    headers.set('idempotency-key', id);
    try {
      const response = await fetch(this.settings.url, {
        method: 'POST',
        headers,
        body,
        redirect: 'manual',
        signal: AbortSignal.any([AbortSignal.timeout(this.settings.timeoutMs), this.abortAttempts.signal]),
      });
      // Only the status matters; the body is released, not read.
      await response.body?.cancel().catch(() => undefined);
      return judgeResponse(response.status, response.headers.get('retry-after'), this.now());
    } catch (error) {
      if (this.abortAttempts.signal.aborted) return { kind: 'final', failure: 'shutdown', detail: 'aborted at shutdown' };
      return { kind: 'retry', detail: describeError(error) };
    }
  }

  /** Logs identifiers only: the token id finds the grant, and everything else, in the audit trail. */
  private fail(grant: GrantRecord, failure: DeliveryFailure, detail: string, attempts = 0): void {
    this.options.logger.error(
      { tokenId: grant.jti, teamId: grant.teamId, failure, detail, attempts },
      'webhook notification not delivered',
    );
    this.options.onDeliveryFailed?.(failure);
  }
}

/** 2xx delivers; 408, 429 and 5xx are worth another try; any other answer will not change. */
function judgeResponse(status: number, retryAfter: string | null, nowMs: number): Attempt {
  if (status >= 200 && status < 300) return { kind: 'delivered' };
  const detail = `HTTP ${status}`;
  if (status === 408 || status === 429 || status >= 500) {
    const retryAfterMs = parseRetryAfter(retryAfter, nowMs);
    return retryAfterMs === undefined ? { kind: 'retry', detail } : { kind: 'retry', detail, retryAfterMs };
  }
  return { kind: 'final', failure: 'rejected', detail };
}

/** `Retry-After` as delay-seconds or an HTTP date (RFC 9110 10.2.3), capped so no server can stall us. */
function parseRetryAfter(value: string | null, nowMs: number): number | undefined {
  if (value === null) return undefined;
  const trimmed = value.trim();
  const ms = /^\d+$/.test(trimmed) ? Number(trimmed) * 1000 : Date.parse(trimmed) - nowMs;
  if (Number.isNaN(ms)) return undefined;
  return Math.min(Math.max(ms, 0), MAX_DELAY_MS);
}

/** Exponential from `baseMs`, capped, with "equal jitter" so replicas failing together spread out. */
function backoffDelay(retry: number, baseMs: number): number {
  const ceiling = Math.min(baseMs * 2 ** retry, MAX_DELAY_MS);
  return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
}

/** A pending wait must not keep a stopping process alive. */
function unreferencedDelay(ms: number): Promise<void> {
  return delay(ms, undefined, { ref: false });
}

function describeError(error: unknown): string {
  if (!(error instanceof Error)) return 'network error';
  const code = (error.cause as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? `${error.name} (${code})` : error.name;
}
