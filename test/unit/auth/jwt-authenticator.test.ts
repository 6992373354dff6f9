import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { base64url, SignJWT } from 'jose';
import { http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ClaimNames } from '../../../src/auth/claims.js';
import { createJwtAuthenticator, type JwtAuthConfig } from '../../../src/auth/jwt-authenticator.js';
import type { CallerAuthenticator } from '../../../src/auth/login-context.js';
import { createDemoIdentityProvider, type DemoIdentityProvider } from '../../../src/demo/demo-identity.js';
import { GatewayError } from '../../../src/errors.js';

const JWKS_URL = 'https://idp.test/.well-known/jwks.json';
const T0 = Date.UTC(2026, 0, 1);
const defaults: ClaimNames = { team: 'team', userType: 'user_type', user: 'sub', scope: 'scope' };
const login = { sub: 'dr.jones', team: 'team-a', user_type: 'CLINICIAN', scope: 'patients.read btg' };

let now = T0;
const clock = () => now;
let idp: DemoIdentityProvider;
let jwksRequests = 0;
const server = setupServer(
  http.get(JWKS_URL, () => {
    jwksRequests += 1;
    return HttpResponse.json(idp.jwks);
  }),
);

beforeAll(async () => {
  idp = await createDemoIdentityProvider({ now: clock });
  server.listen({ onUnhandledRequest: 'error' });
});
afterEach(() => {
  server.resetHandlers();
  now = T0;
  jwksRequests = 0;
});
afterAll(() => server.close());

function config(overrides: Partial<JwtAuthConfig> = {}): JwtAuthConfig {
  return {
    jwksUrl: JWKS_URL,
    issuer: idp.issuer,
    audience: idp.audience,
    algorithms: ['RS256', 'ES256', 'EdDSA'],
    clockToleranceSeconds: 0,
    jwksCacheMaxAgeMs: 600_000,
    jwksCooldownMs: 30_000,
    ...overrides,
  };
}

function authenticator(overrides: Partial<JwtAuthConfig> = {}, claims: ClaimNames = defaults): Promise<CallerAuthenticator> {
  return createJwtAuthenticator(config(overrides), claims, { now: clock, cacheMaxEntries: 100 });
}

async function failure(auth: CallerAuthenticator, header: string | undefined): Promise<GatewayError> {
  const err = await auth.authenticate(header).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(GatewayError);
  return err as GatewayError;
}

function unsigned(header: object, payload: object): string {
  const part = (value: object) => base64url.encode(JSON.stringify(value));
  return `${part(header)}.${part(payload)}.`;
}

describe('JWT caller authentication', () => {
  it('authenticates a valid token into a login context', async () => {
    const auth = await authenticator();
    const context = await auth.authenticate(`Bearer ${await idp.mint(login)}`);
    expect(context).toEqual({
      teamId: 'team-a',
      userType: 'CLINICIAN',
      user: 'dr.jones',
      scopes: ['patients.read', 'btg'],
      expiresAt: T0 / 1000 + 3600,
    });
  });

  it('reads the login context through custom claim names', async () => {
    const names: ClaimNames = { team: 'org', userType: 'role', user: 'preferred_username', scope: 'scp' };
    const auth = await authenticator({}, names);
    const token = await idp.sign({
      iss: idp.issuer,
      aud: idp.audience,
      exp: T0 / 1000 + 60,
      org: 'team-b',
      role: 'CLINICIAN',
      preferred_username: 'nurse.k',
      scp: ['btg'],
    });
    expect(await auth.authenticate(`Bearer ${token}`)).toMatchObject({ teamId: 'team-b', user: 'nurse.k', scopes: ['btg'] });
  });

  it('verifies against a local JWKS file read at start-up', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'jwks-'));
    try {
      const file = join(dir, 'jwks.json');
      await idp.writeJwksFile(file);
      const auth = await authenticator({ jwksUrl: undefined, jwksFile: file });
      await rm(file);
      expect((await auth.authenticate(`Bearer ${await idp.mint(login)}`)).teamId).toBe('team-a');
      expect(jwksRequests).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it.each<[string, string, () => Promise<string>]>([
    ['expired', 'token expired', () => idp.mint({ ...login, expiresInSeconds: -1 })],
    ['from an untrusted issuer and key', 'invalid token', async () => (await createDemoIdentityProvider({ issuer: 'https://evil.test', now: clock })).mint(login)],
    ['without exp', 'missing exp claim', () => idp.sign({ ...login, iss: idp.issuer, aud: idp.audience })],
    ['without team', 'missing team claim', () => idp.mint({ ...login, team: undefined as unknown as string })],
    ['without user type', 'missing user_type claim', () => idp.mint({ ...login, user_type: undefined as unknown as string })],
  ])('refuses a token %s with 401 (%s)', async (_case, reason, makeToken) => {
    const auth = await authenticator();
    const err = await failure(auth, `Bearer ${await makeToken()}`);
    expect(err).toMatchObject({ status: 401, code: 'unauthorized' });
    expect(err.message).toMatch(/^Login context is null\. /);
    expect(err.message).toContain(`(${reason})`);
  });

  it('refuses a token from the right issuer for another audience', async () => {
    const auth = await authenticator();
    // Signed by the trusted key, so only the audience check can refuse it.
    const token = await idp.sign({ ...login, iss: idp.issuer, aud: 'someone-else', exp: T0 / 1000 + 60 });
    expect(await failure(auth, `Bearer ${token}`)).toMatchObject({ status: 401, message: expect.stringContaining('(invalid aud claim)') });
  });

  it('refuses a token with a wrong issuer even when signed by the trusted key', async () => {
    const auth = await authenticator();
    const token = await idp.sign({ ...login, iss: 'https://evil.test', aud: idp.audience, exp: T0 / 1000 + 60 });
    expect(await failure(auth, `Bearer ${token}`)).toMatchObject({ status: 401, message: expect.stringContaining('(invalid iss claim)') });
  });

  it('refuses a token signed by a key not in the JWKS', async () => {
    const stranger = await createDemoIdentityProvider({ issuer: idp.issuer, audience: idp.audience, now: clock });
    const auth = await authenticator();
    expect(await failure(auth, `Bearer ${await stranger.mint(login)}`)).toMatchObject({ status: 401, code: 'unauthorized' });
  });

  it('refuses alg none', async () => {
    const auth = await authenticator();
    const token = unsigned({ alg: 'none', typ: 'JWT' }, { ...login, iss: idp.issuer, aud: idp.audience, exp: T0 / 1000 + 60 });
    expect(await failure(auth, `Bearer ${token}`)).toMatchObject({ status: 401, message: expect.stringContaining('(algorithm not allowed)') });
  });

  it('refuses an HS256 token keyed with the public key (algorithm confusion), allowed or not', async () => {
    const publicKeyAsSecret = new TextEncoder().encode(JSON.stringify(idp.jwks.keys[0]));
    const token = await new SignJWT({ ...login, iss: idp.issuer, aud: idp.audience, exp: T0 / 1000 + 60 })
      .setProtectedHeader({ alg: 'HS256', kid: idp.kid })
      .sign(publicKeyAsSecret);
    expect(await failure(await authenticator(), `Bearer ${token}`)).toMatchObject({ status: 401 });
    expect(await failure(await authenticator({ algorithms: ['ES256', 'HS256'] }), `Bearer ${token}`)).toMatchObject({ status: 401 });
  });

  it('refuses an algorithm the configuration does not list, even with a valid signature', async () => {
    const auth = await authenticator({ algorithms: ['EdDSA'] });
    expect(await failure(auth, `Bearer ${await idp.mint(login)}`)).toMatchObject({ status: 401, message: expect.stringContaining('(algorithm not allowed)') });
  });

  it('refuses a missing or malformed Authorization header', async () => {
    const auth = await authenticator();
    expect(await failure(auth, undefined)).toMatchObject({ status: 401 });
    expect(await failure(auth, `Basic ${await idp.mint(login)}`)).toMatchObject({ status: 401 });
    expect(await failure(auth, 'Bearer not-a-jwt')).toMatchObject({ status: 401 });
  });

  it('stops accepting a cached token once its exp passes', async () => {
    const auth = await authenticator();
    const header = `Bearer ${await idp.mint({ ...login, expiresInSeconds: 60 })}`;
    await auth.authenticate(header);
    now = T0 + 59_999;
    expect((await auth.authenticate(header)).teamId).toBe('team-a');
    now = T0 + 60_000;
    expect(await failure(auth, header)).toMatchObject({ status: 401, message: expect.stringContaining('(token expired)') });
  });

  it.each<[string, () => Response]>([
    ['unreachable', () => HttpResponse.error()],
    ['answering 500', () => new HttpResponse('oops', { status: 500 })],
    ['answering 503', () => new HttpResponse(null, { status: 503 })],
    ['answering non-JSON', () => new HttpResponse('<html>', { status: 200, headers: { 'content-type': 'application/json' } })],
    ['answering a non-JWKS', () => HttpResponse.json({ hello: 'world' })],
  ])('answers 502, not 401, when the JWKS endpoint is %s', async (_case, respond) => {
    server.use(http.get(JWKS_URL, respond));
    const auth = await authenticator();
    expect(await failure(auth, `Bearer ${await idp.mint(login)}`)).toMatchObject({ status: 502, code: 'upstream_unavailable' });
  });

  it('never puts the token into an error message or its cause', async () => {
    const tokens = [
      await idp.mint({ ...login, expiresInSeconds: -5 }),
      await idp.sign({ iss: idp.issuer, aud: idp.audience, exp: T0 / 1000 + 60 }),
      unsigned({ alg: 'none' }, { sub: 'x' }),
      `${await idp.mint(login)}x`,
    ];
    const auth = await authenticator();
    for (const token of tokens) {
      const err = await failure(auth, `Bearer ${token}`);
      const signature = token.split('.')[2] || token.split('.')[1]!;
      expect(err.message).not.toContain(signature);
      expect(String(err.cause ?? '')).not.toContain(signature);
    }
    server.use(http.get(JWKS_URL, () => HttpResponse.error()));
    const token = await idp.mint(login);
    const outage = await failure(await authenticator(), `Bearer ${token}`);
    expect(JSON.stringify({ message: outage.message, cause: String(outage.cause) })).not.toContain(token.split('.')[2]);
  });

  it('refuses at start-up a JWKS file that is not a key set, naming the key', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'jwks-'));
    try {
      const file = join(dir, 'jwks.json');
      await writeFile(file, '{"keys": "nope"}');
      await expect(authenticator({ jwksUrl: undefined, jwksFile: file })).rejects.toThrow(/^callerAuth\.jwt\.jwksFile: /);
      await expect(authenticator({ jwksUrl: undefined, jwksFile: join(dir, 'missing.json') })).rejects.toThrow(/ENOENT/);
      await expect(authenticator({ jwksFile: file })).rejects.toThrow(/mutually exclusive/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
