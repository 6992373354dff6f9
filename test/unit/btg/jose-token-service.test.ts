import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { base64url, decodeProtectedHeader, SignJWT, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTokenService, type JoseTokenService, type TokenLifetimes } from '../../../src/btg/jose-token-service.js';
import { generateKeyFile, loadSigningKeys, type LoadedKeys, type SigningAlg } from '../../../src/btg/signing-keys.js';
import type { SigningConfig } from '../../../src/config/schema.js';
import { GatewayError } from '../../../src/errors.js';

const T0 = Date.UTC(2026, 0, 1);
const T0_SECONDS = T0 / 1000;
const lifetimes: TokenLifetimes = { ttlSeconds: 1800, maxTtlSeconds: 1800, clockToleranceSeconds: 0 };
const grant = { userId: 'dr.jones', teamId: 'team-a', pkbId: 'pkb-123' };

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'btg-keys-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function signingConfig(overrides: Partial<SigningConfig> = {}): SigningConfig {
  return { alg: 'EdDSA', issuer: 'btg-gateway', audience: 'btg-gateway', verifyKeys: [], ...overrides };
}

interface Fixture {
  service: JoseTokenService;
  keys: LoadedKeys;
  setNow(ms: number): void;
}

async function fixture(signing: SigningConfig = signingConfig(), overrides: Partial<TokenLifetimes> = {}, keys?: LoadedKeys): Promise<Fixture> {
  let now = T0;
  const loaded = keys ?? (await loadSigningKeys(signing));
  const service = createTokenService(signing, { ...lifetimes, ...overrides }, { keys: loaded, now: () => now });
  return { service, keys: loaded, setNow: (ms) => (now = ms) };
}

async function refusal(service: JoseTokenService, token: string): Promise<GatewayError> {
  const err = await service.verify(token).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(GatewayError);
  return err as GatewayError;
}

const INVALID = { status: 401, code: 'invalid_token', message: 'BTG token is invalid' };
const EXPIRED = { status: 401, code: 'token_expired', message: 'BTG token has expired' };

/** Signs a token with the fixture's own key but with whatever header and claims a test wants. */
function forge(keys: LoadedKeys, payload: JWTPayload, header: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT(payload)
    .setProtectedHeader({ alg: keys.signing.alg, typ: 'btg+jwt', kid: keys.signing.kid, ...header })
    .sign(keys.signing.key);
}

const validClaims = (): JWTPayload => ({
  iss: 'btg-gateway',
  aud: 'btg-gateway',
  sub: 'dr.jones',
  team: 'team-a',
  pkbId: 'pkb-123',
  jti: 'b6f3c1c2-0000-4000-8000-000000000000',
  iat: T0_SECONDS,
  exp: T0_SECONDS + 60,
});

describe('BTG token service', () => {
  it.each<SigningAlg>(['EdDSA', 'ES256', 'HS256'])('issues and verifies a %s token', async (alg) => {
    const signing = signingConfig(alg === 'HS256' ? { alg, secret: 'a-shared-secret-of-at-least-32-bytes!' } : { alg });
    const { service, keys } = await fixture(signing);
    const { token, claims } = await service.issue({ ...grant, reason: 'unconscious patient' });

    expect(decodeProtectedHeader(token)).toEqual({ alg, typ: 'btg+jwt', kid: keys.signing.kid });
    expect(claims).toEqual({
      iss: 'btg-gateway',
      aud: 'btg-gateway',
      sub: 'dr.jones',
      team: 'team-a',
      pkbId: 'pkb-123',
      jti: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/),
      iat: T0_SECONDS,
      exp: T0_SECONDS + 1800,
      reason: 'unconscious patient',
    });
    expect(await service.verify(token)).toEqual(claims);
  });

  it('issues from a key file and verifies it after a restart with the same file', async () => {
    const keyFile = join(dir, 'restart.jwk');
    await generateKeyFile('EdDSA', keyFile);
    const { token } = await (await fixture(signingConfig({ keyFile }))).service.issue(grant);
    const restarted = await fixture(signingConfig({ keyFile }));
    expect((await restarted.service.verify(token)).pkbId).toBe('pkb-123');
  });

  it('leaves reason out when none is given and uses a fresh jti per grant', async () => {
    const { service } = await fixture();
    const first = await service.issue(grant);
    const second = await service.issue(grant);
    expect(first.claims).not.toHaveProperty('reason');
    expect(await service.verify(first.token)).not.toHaveProperty('reason');
    expect(first.claims.jti).not.toBe(second.claims.jti);
  });

  it('refuses a token from the moment exp is reached, as token_expired', async () => {
    const { service, setNow } = await fixture(signingConfig(), { ttlSeconds: 60 });
    const { token } = await service.issue(grant);
    setNow(T0 + 59_999);
    await expect(service.verify(token)).resolves.toMatchObject({ pkbId: 'pkb-123' });
    setNow(T0 + 60_000);
    expect(await refusal(service, token)).toMatchObject(EXPIRED);
  });

  it('accepts a token within the clock tolerance after exp, and not beyond it', async () => {
    const { service, setNow } = await fixture(signingConfig(), { ttlSeconds: 60, clockToleranceSeconds: 5 });
    const { token } = await service.issue(grant);
    setNow(T0 + 64_999);
    await expect(service.verify(token)).resolves.toBeDefined();
    setNow(T0 + 65_000);
    expect(await refusal(service, token)).toMatchObject(EXPIRED);
  });

  it('refuses a token older than maxTokenAgeSeconds even before exp', async () => {
    const { service, setNow } = await fixture(signingConfig(), { ttlSeconds: 1800, maxTokenAgeSeconds: 600 });
    const { token } = await service.issue(grant);
    await service.verify(token);
    setNow(T0 + 600_999);
    await expect(service.verify(token)).resolves.toBeDefined();
    setNow(T0 + 601_000);
    expect(await refusal(service, token)).toMatchObject(EXPIRED);
  });

  it('caps token age at maxTtlSeconds when maxTokenAgeSeconds is unset', async () => {
    const { service, keys, setNow } = await fixture(signingConfig(), { ttlSeconds: 60, maxTtlSeconds: 60 });
    const token = await forge(keys, { ...validClaims(), exp: T0_SECONDS + 86_400 });
    setNow(T0 + 61_000);
    expect(await refusal(service, token)).toMatchObject(EXPIRED);
  });

  it('answers a repeated verification from its cache', async () => {
    const { service } = await fixture();
    const { token } = await service.issue(grant);
    const first = await service.verify(token);
    const second = await service.verify(token);
    expect(second).toEqual(first);
    expect(service.cacheStats()).toEqual({ hits: 1, misses: 1 });
    await service.verify((await service.issue(grant)).token);
    expect(service.cacheStats()).toEqual({ hits: 1, misses: 2 });
  });

  it('does not let a cached verification outlive exp when the clock jumps', async () => {
    const { service, setNow } = await fixture(signingConfig(), { ttlSeconds: 60 });
    const { token } = await service.issue(grant);
    await service.verify(token);
    setNow(T0 + 3_600_000);
    expect(await refusal(service, token)).toMatchObject(EXPIRED);
  });

  it('does not cache refusals into acceptances: a tampered copy of a cached token is still refused', async () => {
    const { service } = await fixture();
    const { token } = await service.issue(grant);
    await service.verify(token);
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const otherPatient = base64url.encode(JSON.stringify({ ...JSON.parse(new TextDecoder().decode(base64url.decode(payload))), pkbId: 'pkb-999' }));
    expect(await refusal(service, `${header}.${otherPatient}.${signature}`)).toMatchObject(INVALID);
  });

  it('refuses a tampered signature', async () => {
    const { service } = await fixture();
    const { token } = await service.issue(grant);
    const last = token.at(-2) === 'A' ? 'B' : 'A';
    expect(await refusal(service, `${token.slice(0, -2)}${last}${token.at(-1)}`)).toMatchObject(INVALID);
  });

  it.each<[string, Record<string, unknown>]>([
    ['typ JWT', { typ: 'JWT' }],
    ['no typ', { typ: undefined }],
    ['an unknown kid', { kid: 'someone-elses-key' }],
    ['no kid', { kid: undefined }],
  ])('refuses a correctly signed token with %s', async (_case, header) => {
    const { service, keys } = await fixture();
    expect(await refusal(service, await forge(keys, validClaims(), header))).toMatchObject(INVALID);
  });

  it.each<[string, JWTPayload]>([
    ['another issuer', { iss: 'someone-else' }],
    ['another audience', { aud: 'someone-else' }],
    ['an audience array', { aud: ['btg-gateway', 'x'] }],
    ['no pkbId', { pkbId: undefined }],
    ['no team', { team: undefined }],
    ['no sub', { sub: undefined }],
    ['no jti', { jti: undefined }],
    ['no iat', { iat: undefined }],
    ['an empty pkbId', { pkbId: '' }],
    ['a numeric team', { team: 7 }],
    ['a fractional exp', { exp: T0_SECONDS + 60.5 }],
    ['an iat in the future', { iat: T0_SECONDS + 3600, exp: T0_SECONDS + 3660 }],
    ['a non-string reason', { reason: 42 }],
  ])('refuses a correctly signed token with %s', async (_case, change) => {
    const { service, keys } = await fixture();
    const payload = { ...validClaims(), ...change };
    for (const [name, value] of Object.entries(change)) if (value === undefined) delete payload[name];
    expect(await refusal(service, await forge(keys, payload))).toMatchObject(INVALID);
  });

  it('accepts a forged-by-us token with exactly the required claims (the test forge is sound)', async () => {
    const { service, keys } = await fixture();
    await expect(service.verify(await forge(keys, validClaims()))).resolves.toMatchObject({ pkbId: 'pkb-123' });
  });

  it('refuses a token whose iss/aud were issued under another configuration', async () => {
    const keys = await loadSigningKeys(signingConfig());
    const issuer = await fixture(signingConfig({ issuer: 'gateway-a' }), {}, keys);
    const verifier = await fixture(signingConfig({ issuer: 'gateway-b' }), {}, keys);
    const audienceVerifier = await fixture(signingConfig({ issuer: 'gateway-a', audience: 'other' }), {}, keys);
    const { token } = await issuer.service.issue(grant);
    expect(await refusal(verifier.service, token)).toMatchObject(INVALID);
    expect(await refusal(audienceVerifier.service, token)).toMatchObject(INVALID);
  });

  it('refuses alg confusion: an HS256 token naming an EdDSA key', async () => {
    const { service, keys } = await fixture();
    const publicKeyBytes = new TextEncoder().encode(JSON.stringify(keys.verification[0]!.publicJwk));
    const token = await new SignJWT(validClaims())
      .setProtectedHeader({ alg: 'HS256', typ: 'btg+jwt', kid: keys.signing.kid })
      .sign(publicKeyBytes);
    expect(await refusal(service, token)).toMatchObject(INVALID);
  });

  it.each([
    ['alg none', () => `${base64url.encode('{"alg":"none","typ":"btg+jwt"}')}.${base64url.encode(JSON.stringify(validClaims()))}.`],
    ['garbage', () => 'not a token'],
    ['an empty string', () => ''],
    ['JWS JSON serialization', () => JSON.stringify({ protected: 'e30', payload: 'e30', signature: '' })],
    ['five segments (JWE-shaped)', () => 'a.b.c.d.e'],
  ])('refuses %s as invalid_token', async (_case, make) => {
    const { service } = await fixture();
    expect(await refusal(service, make())).toMatchObject(INVALID);
  });

  it('verifies tokens signed with a rotated-out key listed in verifyKeys, and stops once it is removed', async () => {
    const oldFile = join(dir, 'old.jwk');
    const newFile = join(dir, 'new.jwk');
    await generateKeyFile('ES256', oldFile);
    await generateKeyFile('EdDSA', newFile);
    const before = await fixture(signingConfig({ alg: 'ES256', keyFile: oldFile }));
    const { token: oldToken } = await before.service.issue(grant);

    const during = await fixture(signingConfig({ alg: 'EdDSA', keyFile: newFile, verifyKeys: [{ alg: 'ES256', keyFile: oldFile }] }));
    expect((await during.service.verify(oldToken)).pkbId).toBe('pkb-123');
    const { token: newToken } = await during.service.issue(grant);
    expect(decodeProtectedHeader(newToken).alg).toBe('EdDSA');

    const after = await fixture(signingConfig({ alg: 'EdDSA', keyFile: newFile }));
    expect(await refusal(after.service, oldToken)).toMatchObject(INVALID);
    expect((await after.service.verify(newToken)).pkbId).toBe('pkb-123');
  });

  it('verifies an HS256 token from a rotated-out shared secret', async () => {
    const oldSecret = 'the-previous-shared-secret-32-bytes-long';
    const before = await fixture(signingConfig({ alg: 'HS256', secret: oldSecret }));
    const { token } = await before.service.issue(grant);
    const during = await fixture(signingConfig({ alg: 'EdDSA', verifyKeys: [{ alg: 'HS256', secret: oldSecret }] }));
    expect((await during.service.verify(token)).pkbId).toBe('pkb-123');
  });

  it('publishes the public signing and asymmetric verification keys, nothing private, none for HS256', async () => {
    const oldFile = join(dir, 'published-old.jwk');
    await generateKeyFile('ES256', oldFile);
    const { service, keys } = await fixture(
      signingConfig({ verifyKeys: [{ alg: 'ES256', keyFile: oldFile }, { alg: 'HS256', secret: 'x'.repeat(32) }] }),
    );
    const { keys: published } = service.publicJwks();
    expect(published).toHaveLength(2);
    expect(published[0]).toEqual({ kty: 'OKP', crv: 'Ed25519', x: expect.any(String), kid: keys.signing.kid, alg: 'EdDSA', use: 'sig' });
    expect(published[1]).toEqual({ kty: 'EC', crv: 'P-256', x: expect.any(String), y: expect.any(String), kid: expect.any(String), alg: 'ES256', use: 'sig' });

    const hs = await fixture(signingConfig({ alg: 'HS256', secret: 'y'.repeat(32) }));
    expect(hs.service.publicJwks()).toEqual({ keys: [] });
  });

  it('never puts the token into an error message', async () => {
    const { service, keys, setNow } = await fixture(signingConfig(), { ttlSeconds: 60 });
    const { token } = await service.issue(grant);
    const candidates = [`${token}x`, await forge(keys, validClaims(), { kid: 'nope' }), await forge(keys, { ...validClaims(), pkbId: undefined })];
    setNow(T0 + 120_000);
    candidates.push(token);
    for (const candidate of candidates) {
      const err = await refusal(service, candidate);
      expect(err.message).not.toContain(candidate.split('.')[2]!);
      expect(JSON.stringify(err)).not.toContain(candidate.split('.')[2]!);
      expect(String(err.cause ?? '')).not.toContain(candidate.split('.')[1]!);
    }
  });
});
