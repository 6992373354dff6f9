import { Writable } from 'node:stream';
import { delay, http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/logger.js';
import type { GrantRecord } from '../../../src/store/grant-store.js';
import {
  WebhookNotifier,
  type DeliveryFailure,
  type WebhookNotifierOptions,
  type WebhookSettings,
} from '../../../src/notify/webhook-notifier.js';

const HOOK = 'https://hooks.test/btg';
const ELSEWHERE = 'https://elsewhere.test/landing';
const T0 = Date.UTC(2026, 11, 3, 16, 0, 0);

const grant: GrantRecord = {
  jti: 'jti-7c41',
  teamId: 'team-a',
  userId: 'dr.jones',
  pkbId: 'patient-9f1c',
  reason: 'unconscious in ED',
  issuedAt: T0 - 60_000,
  expiresAt: T0 + 1_740_000,
};

interface Received {
  headers: Headers;
  body: Record<string, unknown>;
}

/** What the fake webhook receives, and how it answers the n-th request (the last answer repeats). */
let received: Received[] = [];
let answers: (() => Response | Promise<Response>)[] = [];
let arrivals: { count: number; resolve: () => void }[] = [];
let elsewhereHits = 0;

const server = setupServer(
  http.post(HOOK, async ({ request }) => {
    received.push({ headers: request.headers, body: (await request.json()) as Record<string, unknown> });
    for (const waiter of arrivals.filter((w) => received.length >= w.count)) waiter.resolve();
    const answer = answers[Math.min(received.length, answers.length) - 1]!;
    return answer();
  }),
  http.all(ELSEWHERE, () => {
    elsewhereHits++;
    return new HttpResponse(null, { status: 200 });
  }),
);

beforeAll(() => server.listen({ onUnhandledRequest: 'error' }));
afterEach(() => {
  server.resetHandlers();
  server.events.removeAllListeners();
  received = [];
  answers = [];
  arrivals = [];
  elsewhereHits = 0;
});
afterAll(() => server.close());

const status = (code: number, headers: Record<string, string> = {}) => () => new HttpResponse(null, { status: code, headers });
const never = () => new Promise<never>(() => {});
const hang = async () => {
  await delay('infinite');
  return new HttpResponse(null, { status: 200 });
};

/** Resolves once the webhook has received `count` requests in total. */
function requestsArrived(count: number): Promise<void> {
  return new Promise((resolve) => {
    if (received.length >= count) resolve();
    else arrivals.push({ count, resolve });
  });
}

/** Notifies, waits until the webhook has received `requests` requests, then closes the notifier. */
async function notifyAndSettle(h: Harness, requests: number): Promise<void> {
  h.notifier.notify('grant', grant);
  await requestsArrived(requests);
  await h.notifier.close();
}

interface Harness {
  notifier: WebhookNotifier;
  sleeps: number[];
  failures: DeliveryFailure[];
  /** Resolves with the reason of the first delivery failure. */
  firstFailure: Promise<DeliveryFailure>;
  logs: Record<string, unknown>[];
  logText: () => string;
}

function harness(
  settings: Partial<WebhookSettings> = {},
  sleep: (ms: number) => Promise<void> = async () => {},
  closeTimeoutMs?: number,
): Harness {
  const sleeps: number[] = [];
  const failures: DeliveryFailure[] = [];
  const logs: Record<string, unknown>[] = [];
  let text = '';
  let failed: (reason: DeliveryFailure) => void = () => {};
  const firstFailure = new Promise<DeliveryFailure>((resolve) => (failed = resolve));
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      text += chunk.toString();
      for (const line of chunk.toString().split('\n').filter(Boolean)) logs.push(JSON.parse(line) as Record<string, unknown>);
      callback();
    },
  });
  const options: WebhookNotifierOptions = {
    logger: createLogger('debug', destination),
    instance: 'gw-1',
    now: () => T0,
    onDeliveryFailed: (reason) => {
      failures.push(reason);
      failed(reason);
    },
    sleep: (ms) => {
      sleeps.push(ms);
      return sleep(ms);
    },
    ...(closeTimeoutMs === undefined ? {} : { closeTimeoutMs }),
  };
  const notifier = new WebhookNotifier({ url: HOOK, headers: {}, timeoutMs: 5_000, retries: 3, backoffMs: 100, ...settings }, options);
  return { notifier, sleeps, failures, firstFailure, logs, logText: () => text };
}

describe('WebhookNotifier', () => {
  it('POSTs the grant as JSON with the configured headers and an Idempotency-Key equal to the notification id', async () => {
    answers = [status(204)];
    const h = harness({ headers: { Authorization: 'Bearer hook-secret', 'Content-Type': 'text/plain', 'X-Source': 'btg' } });
    await notifyAndSettle(h, 1);

    expect(received).toHaveLength(1);
    const { headers, body } = received[0]!;
    expect(headers.get('content-type')).toBe('application/json');
    expect(headers.get('authorization')).toBe('Bearer hook-secret');
    expect(headers.get('x-source')).toBe('btg');
    expect(body).toEqual({
      type: 'btg.grant',
      id: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/),
      time: '2026-12-03T16:00:00.000Z',
      instance: 'gw-1',
      pkbId: 'patient-9f1c',
      teamId: 'team-a',
      userId: 'dr.jones',
      tokenId: 'jti-7c41',
      reason: 'unconscious in ED',
      issuedAt: '2026-12-03T15:59:00.000Z',
      expiresAt: '2026-12-03T16:29:00.000Z',
    });
    expect(headers.get('idempotency-key')).toBe(body.id);
    expect(h.failures).toEqual([]);
  });

  it('sends identifiers only: a revoke without reason carries exactly these keys and no token', async () => {
    answers = [status(200)];
    const h = harness();
    const { reason: _omitted, ...withoutReason } = grant;
    h.notifier.notify('revoke', withoutReason);
    await requestsArrived(1);
    await h.notifier.close();

    const body = received[0]!.body;
    expect(body.type).toBe('btg.revoke');
    expect(Object.keys(body).sort()).toEqual(
      ['expiresAt', 'id', 'instance', 'issuedAt', 'pkbId', 'teamId', 'time', 'tokenId', 'type', 'userId'].sort(),
    );
  });

  it('gives each notification its own id', async () => {
    answers = [status(200)];
    const h = harness();
    h.notifier.notify('grant', grant);
    h.notifier.notify('revoke', grant);
    await requestsArrived(2);
    await h.notifier.close();

    expect(new Set(received.map((r) => r.body.id)).size).toBe(2);
  });

  it('retries 503 with exponential, jittered backoff and keeps the Idempotency-Key and body across attempts', async () => {
    answers = [status(503), status(503), status(200)];
    const h = harness({ backoffMs: 100 });
    await notifyAndSettle(h, 3);

    expect(received).toHaveLength(3);
    expect(new Set(received.map((r) => r.headers.get('idempotency-key'))).size).toBe(1);
    expect(received.map((r) => r.body)).toEqual([received[0]!.body, received[0]!.body, received[0]!.body]);
    const [first, second] = h.sleeps;
    expect(first).toBeGreaterThanOrEqual(50);
    expect(first).toBeLessThanOrEqual(100);
    expect(second).toBeGreaterThanOrEqual(100);
    expect(second).toBeLessThanOrEqual(200);
    expect(h.failures).toEqual([]);
  });

  it('caps the backoff at 30 s', async () => {
    answers = [status(500)];
    const h = harness({ backoffMs: 20_000, retries: 3 });
    h.notifier.notify('grant', grant);
    await h.firstFailure;

    expect(h.sleeps).toHaveLength(3);
    expect(Math.max(...h.sleeps)).toBeLessThanOrEqual(30_000);
    expect(h.sleeps[2]).toBeGreaterThanOrEqual(15_000);
  });

  it('gives up after `retries` retries, logs ids only and reports the failure', async () => {
    answers = [status(502)];
    const h = harness({ retries: 2 });
    h.notifier.notify('grant', grant);

    expect(await h.firstFailure).toBe('exhausted');
    expect(received).toHaveLength(3);
    const error = h.logs.find((line) => line.level === 50);
    expect(error).toMatchObject({ tokenId: 'jti-7c41', teamId: 'team-a', failure: 'exhausted', detail: 'HTTP 502', attempts: 3 });
    expect(h.logText()).not.toContain('patient-9f1c');
    expect(h.logText()).not.toContain('dr.jones');
    expect(h.logText()).not.toContain('unconscious');
    await h.notifier.close();
    expect(h.failures).toEqual(['exhausted']);
  });

  it('makes a single attempt when retries is 0', async () => {
    answers = [status(503)];
    const h = harness({ retries: 0 });
    h.notifier.notify('grant', grant);

    expect(await h.firstFailure).toBe('exhausted');
    expect(received).toHaveLength(1);
    expect(h.sleeps).toEqual([]);
  });

  it.each([400, 401, 404, 410, 422])('does not retry %i', async (code) => {
    answers = [status(code)];
    const h = harness();
    h.notifier.notify('grant', grant);

    expect(await h.firstFailure).toBe('rejected');
    expect(received).toHaveLength(1);
    expect(h.sleeps).toEqual([]);
  });

  it.each([
    ['HTTP 408', status(408)],
    ['HTTP 429', status(429)],
    ['HTTP 500', status(500)],
    ['HTTP 504', status(504)],
    ['a network error', () => HttpResponse.error()],
    ['a timeout', hang],
  ])('retries after %s', async (_what, firstAnswer) => {
    answers = [firstAnswer, status(200)];
    const h = harness({ timeoutMs: 20 });
    await notifyAndSettle(h, 2);

    expect(received).toHaveLength(2);
    expect(h.failures).toEqual([]);
  });

  it('does not follow redirects', async () => {
    answers = [status(302, { location: ELSEWHERE })];
    const h = harness();
    h.notifier.notify('grant', grant);

    expect(await h.firstFailure).toBe('rejected');
    expect(received).toHaveLength(1);
    expect(elsewhereHits).toBe(0);
  });

  it('honours Retry-After in seconds, as an HTTP date, and caps it at 30 s', async () => {
    answers = [
      status(429, { 'retry-after': '7' }),
      status(503, { 'retry-after': new Date(T0 + 12_000).toUTCString() }),
      status(429, { 'retry-after': '3600' }),
      status(200),
    ];
    const h = harness({ retries: 5 });
    await notifyAndSettle(h, 4);

    expect(h.sleeps.slice(0, 3)).toEqual([7_000, 12_000, 30_000]);
    expect(h.failures).toEqual([]);
  });

  it('falls back to backoff when Retry-After is unreadable', async () => {
    answers = [status(429, { 'retry-after': 'soon' }), status(200)];
    const h = harness({ backoffMs: 100 });
    await notifyAndSettle(h, 2);

    expect(h.sleeps[0]).toBeGreaterThanOrEqual(50);
    expect(h.sleeps[0]).toBeLessThanOrEqual(100);
  });

  it('returns from notify at once and never throws, whatever the webhook does', () => {
    answers = [() => HttpResponse.error()];
    const h = harness({ retries: 0 });
    expect(h.notifier.notify('grant', grant)).toBeUndefined();
    return h.firstFailure;
  });

  it('close() waits for a delivery in flight', async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    answers = [async () => {
      await gate;
      return new HttpResponse(null, { status: 200 });
    }];
    const h = harness();
    h.notifier.notify('grant', grant);
    await requestsArrived(1);

    const events: string[] = [];
    const closing = h.notifier.close().then(() => events.push('closed'));
    // Gives a close() that did not wait the chance to finish (or abort) first; far below the 5 s grace.
    await new Promise((resolve) => setTimeout(resolve, 50));
    events.push('answered');
    release();
    await closing;

    expect(events).toEqual(['answered', 'closed']);
    expect(h.failures).toEqual([]);
  });

  it('close() aborts deliveries still in flight once the grace period is over', async () => {
    let aborted = false;
    answers = [hang];
    server.events.on('request:start', ({ request }) => request.signal.addEventListener('abort', () => (aborted = true)));
    const h = harness({}, undefined, 10);
    await notifyAndSettle(h, 1);

    expect(h.failures).toEqual(['shutdown']);
    expect(aborted).toBe(true);
  });

  it('close() stops scheduling retries', async () => {
    answers = [status(503)];
    const h = harness({ retries: 5 }, never);
    await notifyAndSettle(h, 1);

    expect(received).toHaveLength(1);
    expect(h.failures).toEqual(['shutdown']);
  });

  it('refuses notifications after close', async () => {
    const h = harness();
    await h.notifier.close();
    h.notifier.notify('grant', grant);

    expect(h.failures).toEqual(['shutdown']);
    expect(received).toEqual([]);
  });

  it('refuses new notifications while 1000 are pending, keeping the older ones', async () => {
    answers = [status(503)];
    const h = harness({ retries: 5 }, never);
    for (let i = 0; i < 1000; i++) h.notifier.notify('grant', { ...grant, jti: `jti-${i}` });
    expect(h.failures).toEqual([]);

    h.notifier.notify('grant', { ...grant, jti: 'jti-overflow' });
    expect(h.failures).toEqual(['overflow']);
    expect(h.logs.find((line) => line.failure === 'overflow')).toMatchObject({ tokenId: 'jti-overflow' });

    await h.notifier.close();
    expect(h.failures.filter((f) => f === 'shutdown')).toHaveLength(1000);
  });
});
