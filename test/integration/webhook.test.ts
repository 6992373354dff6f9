import { decodeJwt } from 'jose';
import { http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { recordsFor } from '../support/audit-file.js';
import { startTestGateway, type RunningGateway } from '../support/gateway-harness.js';
import { send, type ClientResponse } from '../support/http-client.js';
import { RecordingUpstream } from '../support/recording-upstream.js';

/**
 * `notify.webhook` through the running gateway: msw stands in for the webhook. It intercepts global
 * fetch in this process, so the gateway runs in-process; everything not addressed to the webhook
 * (the test's own calls, the gateway's patient lookups) goes over the network as usual.
 *
 * msw 2.15 (@mswjs/interceptors 0.41.9) never settles `response.body.cancel()` on a response it
 * handled, bypassed ones included (mswjs/interceptors#712, #799). The gateway cancels bodies it does
 * not read, so here patient lookups use HEAD and the webhook answers without a body; otherwise each
 * would wait out its timeout.
 */

const HOOK = 'http://webhook.test/hook';
const RETRIES = 2;

interface Delivery {
  headers: Headers;
  text: string;
}

let deliveries: Delivery[] = [];
/** How the webhook answers its n-th request (1-based). */
let answer: (attempt: number) => Promise<Response> = async () => new HttpResponse(null, { status: 204 });

const webhook = setupServer(
  http.post(HOOK, async ({ request }) => {
    deliveries.push({ headers: request.headers, text: await request.text() });
    return answer(deliveries.length);
  }),
);

let upstream: RecordingUpstream;
let gw: RunningGateway;
let caller: string;

beforeAll(async () => {
  webhook.listen({ onUnhandledRequest: 'bypass' });
  upstream = await new RecordingUpstream().start();
  gw = await startTestGateway(upstream.url, {
    notify: { webhook: { url: HOOK, retries: RETRIES, backoffMs: 1 } },
    btg: { patientLookup: { method: 'HEAD' } },
  });
  caller = await gw.callerToken();
});

beforeEach(() => {
  deliveries = [];
});

afterAll(async () => {
  await gw.stop();
  await upstream.stop();
  webhook.close();
});

function grant(pkbId: string): Promise<ClientResponse> {
  return send(`${gw.url}/btg`, {
    method: 'POST',
    headers: { authorization: `Bearer ${caller}`, 'content-type': 'application/json', 'x-request-id': `grant-${pkbId}` },
    body: JSON.stringify({ userId: 'dr.jones', pkbId, reason: 'unconscious in ED' }),
  });
}

async function notifyFailures(reason: string): Promise<number> {
  const text = (await send(`${gw.adminUrl}/metrics`)).text;
  return Number(new RegExp(`^btg_notify_failures_total\\{reason="${reason}"\\} (\\d+)`, 'm').exec(text)?.[1]);
}

function allHeaders(delivery: Delivery): string {
  return [...delivery.headers.entries()].flat().join('\n');
}

describe('webhook notifications', () => {
  it('a grant and a revoke each POST a notification with the grant identifiers and never the token', async () => {
    const granted = await grant('p-notify');
    expect(granted.status).toBe(200);
    const { token, tokenId, expiresAt } = granted.json<{ token: string; tokenId: string; expiresAt: string }>();
    const revoked = await send(`${gw.url}/btg`, { method: 'DELETE', headers: { authorization: `Bearer ${caller}`, breaktheglass: token } });
    expect(revoked.status).toBe(204);

    await expect.poll(() => deliveries.length).toBe(2);
    const { iat } = decodeJwt(token);
    const expected = {
      id: expect.any(String),
      time: expect.any(String),
      instance: 'test',
      pkbId: 'p-notify',
      teamId: 'team-a',
      userId: 'dr.jones',
      tokenId,
      reason: 'unconscious in ED',
      issuedAt: new Date(iat! * 1000).toISOString(),
      expiresAt,
    };
    const bodies = deliveries.map((d) => JSON.parse(d.text) as Record<string, unknown>);
    expect(bodies.map((b) => b.type).sort()).toEqual(['btg.grant', 'btg.revoke']);
    for (const [i, body] of bodies.entries()) {
      expect(body).toEqual({ ...expected, type: body.type });
      expect(deliveries[i]!.headers.get('content-type')).toBe('application/json');
      expect(deliveries[i]!.headers.get('idempotency-key')).toBe(body.id);
      expect(deliveries[i]!.text).not.toContain(token);
      expect(allHeaders(deliveries[i]!)).not.toContain(token);
    }
    expect(bodies[0]!.id).not.toBe(bodies[1]!.id);
  });

  it('a failing webhook is retried, then counted as exhausted; the grant neither fails nor waits for it', async () => {
    const events: string[] = [];
    let grantAnswered!: () => void;
    const answered = new Promise<void>((resolve) => (grantAnswered = resolve));
    answer = async (attempt) => {
      events.push(`attempt ${attempt}`);
      // The first attempt cannot fail before the client has its token, so retries and giving up
      // come after the grant was answered; were the grant waiting for the webhook, it never would be.
      if (attempt === 1) await answered;
      return new HttpResponse(null, { status: 500 });
    };
    const exhaustedBefore = await notifyFailures('exhausted');

    const granted = await grant('p-webhook-down');
    events.push('grant answered');
    grantAnswered();
    expect(granted.status).toBe(200);
    expect(granted.json()).toMatchObject({ token: expect.any(String), pkbId: 'p-webhook-down' });

    await expect.poll(() => notifyFailures('exhausted')).toBe(exhaustedBefore + 1);
    expect(deliveries).toHaveLength(RETRIES + 1);
    expect(events.filter((e) => e !== 'attempt 1')).toEqual(['grant answered', 'attempt 2', 'attempt 3']);
    // Every attempt carried the same notification.
    expect(new Set(deliveries.map((d) => d.headers.get('idempotency-key'))).size).toBe(1);
    expect(recordsFor(gw.dir, 'grant-p-webhook-down')).toEqual([expect.objectContaining({ event: 'grant', outcome: 'success' })]);
    // A grant that waited for the webhook would deadlock with the held first attempt: fail fast then.
  }, 5_000);
});
