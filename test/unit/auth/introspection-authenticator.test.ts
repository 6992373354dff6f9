import { http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ClaimNames } from '../../../src/auth/claims.js';
import { createIntrospectionAuthenticator, type IntrospectionConfig } from '../../../src/auth/introspection-authenticator.js';
import type { CallerAuthenticator } from '../../../src/auth/login-context.js';
import { GatewayError } from '../../../src/errors.js';

const URL_ = 'https://idp.test/oauth2/introspect';
const T0 = Date.UTC(2026, 0, 1);
const TOKEN = 'opaque-access-token-4f1d9c';
const defaults: ClaimNames = { team: 'team', userType: 'user_type', user: 'sub', scope: 'scope' };
const activeClaims = { active: true, sub: 'dr.jones', team: 'team-a', user_type: 'CLINICIAN', scope: 'btg read' };

let now = T0;
const clock = () => now;

/** What the fake authorization server currently says, and what it was asked. */
let answer: () => Response;
let requests: { authorization: string | null; contentType: string | null; body: URLSearchParams }[] = [];

const server = setupServer(
  http.post(URL_, async ({ request }) => {
    requests.push({
      authorization: request.headers.get('authorization'),
      contentType: request.headers.get('content-type'),
      body: new URLSearchParams(await request.text()),
    });
    return answer();
  }),
);

beforeAll(() => server.listen({ onUnhandledRequest: 'error' }));
afterEach(() => {
  server.resetHandlers();
  now = T0;
  requests = [];
});
afterAll(() => server.close());

const active = (extra: Record<string, unknown> = {}) => () => HttpResponse.json({ ...activeClaims, ...extra });
const inactive = () => HttpResponse.json({ active: false });

function authenticator(overrides: Partial<IntrospectionConfig> = {}): CallerAuthenticator {
  const config: IntrospectionConfig = {
    url: URL_,
    clientId: 'btg-gateway',
    clientSecret: 's3cret',
    cacheSeconds: 60,
    negativeCacheSeconds: 5,
    timeoutMs: 1_000,
    ...overrides,
  };
  return createIntrospectionAuthenticator(config, defaults, { now: clock, cacheMaxEntries: 100 });
}

async function failure(auth: CallerAuthenticator, token = TOKEN): Promise<GatewayError> {
  const err = await auth.authenticate(`Bearer ${token}`).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(GatewayError);
  return err as GatewayError;
}

const at = (seconds: number) => {
  now = T0 + seconds * 1000;
};

describe('RFC 7662 introspection caller authentication', () => {
  it('posts the token form-encoded with Basic client credentials and maps an active answer', async () => {
    answer = active({ exp: T0 / 1000 + 600 });
    const context = await authenticator().authenticate(`Bearer ${TOKEN}`);
    expect(context).toEqual({ teamId: 'team-a', userType: 'CLINICIAN', user: 'dr.jones', scopes: ['btg', 'read'], expiresAt: T0 / 1000 + 600 });
    expect(requests).toHaveLength(1);
    expect(requests[0]!.authorization).toBe(`Basic ${Buffer.from('btg-gateway:s3cret').toString('base64')}`);
    expect(requests[0]!.contentType).toBe('application/x-www-form-urlencoded');
    expect(Object.fromEntries(requests[0]!.body)).toEqual({ token: TOKEN, token_type_hint: 'access_token' });
  });

  it('form-encodes client credentials before Basic encoding them (RFC 6749 section 2.3.1)', async () => {
    answer = active();
    await authenticator({ clientId: 'gate:way', clientSecret: 'a b%' }).authenticate(`Bearer ${TOKEN}`);
    expect(requests[0]!.authorization).toBe(`Basic ${Buffer.from('gate%3Away:a+b%25').toString('base64')}`);
  });

  it('refuses an inactive token with 401', async () => {
    answer = inactive;
    expect(await failure(authenticator())).toMatchObject({
      status: 401,
      code: 'unauthorized',
      message: 'Login context is null. Error opening authorization request with supplied tokenHeader. (token inactive)',
    });
  });

  it('refuses an active token whose answer lacks the team claim', async () => {
    answer = () => HttpResponse.json({ active: true, sub: 'u', user_type: 'CLINICIAN' });
    expect(await failure(authenticator())).toMatchObject({ status: 401, message: expect.stringContaining('(missing team claim)') });
  });

  it('refuses a token the server calls active after its exp', async () => {
    answer = active({ exp: T0 / 1000 });
    expect(await failure(authenticator())).toMatchObject({ status: 401, message: expect.stringContaining('(token expired)') });
  });

  it.each<[string, () => Response]>([
    ['500', () => new HttpResponse('boom', { status: 500 })],
    ['401 (our client credentials refused)', () => new HttpResponse(null, { status: 401 })],
    ['a redirect', () => new HttpResponse(null, { status: 302, headers: { location: 'https://elsewhere.test/' } })],
    ['a network error', () => HttpResponse.error()],
    ['non-JSON', () => new HttpResponse('<html>', { status: 200, headers: { 'content-type': 'application/json' } })],
    ['JSON without a boolean active', () => HttpResponse.json({ active: 'yes' })],
    ['a JSON array', () => HttpResponse.json([])],
  ])('answers 502 when the endpoint gives %s', async (_case, respond) => {
    answer = respond;
    expect(await failure(authenticator())).toMatchObject({ status: 502, code: 'upstream_unavailable' });
  });

  it('never caches an endpoint failure', async () => {
    const auth = authenticator();
    answer = () => new HttpResponse(null, { status: 500 });
    expect(await failure(auth)).toMatchObject({ status: 502 });
    answer = active();
    expect((await auth.authenticate(`Bearer ${TOKEN}`)).teamId).toBe('team-a');
  });

  it('keeps a positive answer for cacheSeconds, then asks again', async () => {
    const auth = authenticator({ cacheSeconds: 60 });
    answer = active({ exp: T0 / 1000 + 3600 });
    await auth.authenticate(`Bearer ${TOKEN}`);
    answer = inactive;
    at(59.999);
    expect((await auth.authenticate(`Bearer ${TOKEN}`)).teamId).toBe('team-a');
    expect(requests).toHaveLength(1);
    at(60);
    expect(await failure(auth)).toMatchObject({ status: 401, message: expect.stringContaining('(token inactive)') });
    expect(requests).toHaveLength(2);
  });

  it('never keeps a positive answer past the token exp, even within cacheSeconds', async () => {
    const auth = authenticator({ cacheSeconds: 60 });
    answer = active({ exp: T0 / 1000 + 10 });
    await auth.authenticate(`Bearer ${TOKEN}`);
    answer = inactive;
    at(9.999);
    expect((await auth.authenticate(`Bearer ${TOKEN}`)).teamId).toBe('team-a');
    at(10);
    expect(await failure(auth)).toMatchObject({ status: 401 });
    expect(requests).toHaveLength(2);
  });

  it('keeps a negative answer for negativeCacheSeconds', async () => {
    const auth = authenticator({ negativeCacheSeconds: 5 });
    answer = inactive;
    await failure(auth);
    answer = active();
    at(4.999);
    expect(await failure(auth)).toMatchObject({ status: 401 });
    expect(requests).toHaveLength(1);
    at(5);
    expect((await auth.authenticate(`Bearer ${TOKEN}`)).teamId).toBe('team-a');
    expect(requests).toHaveLength(2);
  });

  it('asks every time when cacheSeconds is 0', async () => {
    const auth = authenticator({ cacheSeconds: 0 });
    answer = active();
    await auth.authenticate(`Bearer ${TOKEN}`);
    await auth.authenticate(`Bearer ${TOKEN}`);
    expect(requests).toHaveLength(2);
  });

  it('caches per token', async () => {
    const auth = authenticator();
    answer = active();
    await auth.authenticate(`Bearer ${TOKEN}`);
    answer = inactive;
    expect(await failure(auth, 'another-token')).toMatchObject({ status: 401 });
  });

  it('shares one introspection call among concurrent requests for the same token', async () => {
    const auth = authenticator();
    answer = active();
    const contexts = await Promise.all([1, 2, 3].map(() => auth.authenticate(`Bearer ${TOKEN}`)));
    expect(contexts.map((c) => c.teamId)).toEqual(['team-a', 'team-a', 'team-a']);
    expect(requests).toHaveLength(1);
  });

  it('never puts the token into an error message or its cause', async () => {
    for (const respond of [inactive, () => new HttpResponse(null, { status: 500 }), () => HttpResponse.error()]) {
      answer = respond;
      const err = await failure(authenticator());
      expect(err.message).not.toContain(TOKEN);
      expect(String(err.cause ?? '')).not.toContain(TOKEN);
    }
  });
});
