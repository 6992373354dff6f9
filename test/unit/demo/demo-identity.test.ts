import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { createDemoIdentityProvider } from '../../../src/demo/demo-identity.js';

describe('demo identity provider', () => {
  it.each(['ES256', 'EdDSA'] as const)('mints %s tokens verifiable against its public JWKS', async (alg) => {
    const now = Date.UTC(2026, 0, 1);
    const idp = await createDemoIdentityProvider({ alg, issuer: 'https://idp.example', audience: 'gw', now: () => now });
    const token = await idp.mint({ sub: 'dr.jones', team: 'team-a', user_type: 'CLINICIAN', scope: 'btg', expiresInSeconds: 120 });
    expect(decodeProtectedHeader(token)).toMatchObject({ alg, kid: idp.kid });
    const { payload } = await jwtVerify(token, createLocalJWKSet(idp.jwks), {
      issuer: 'https://idp.example',
      audience: 'gw',
      currentDate: new Date(now),
    });
    expect(payload).toEqual({
      sub: 'dr.jones',
      team: 'team-a',
      user_type: 'CLINICIAN',
      scope: 'btg',
      iss: 'https://idp.example',
      aud: 'gw',
      iat: now / 1000,
      exp: now / 1000 + 120,
    });
  });

  it('writes a JWKS file with public keys only', async () => {
    const idp = await createDemoIdentityProvider();
    const dir = await mkdtemp(join(tmpdir(), 'demo-idp-'));
    try {
      const file = join(dir, 'jwks.json');
      await idp.writeJwksFile(file);
      const written = JSON.parse(await readFile(file, 'utf8')) as { keys: Record<string, unknown>[] };
      expect(written).toEqual(idp.jwks);
      expect(written.keys).toHaveLength(1);
      expect(written.keys[0]).not.toHaveProperty('d');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('generates a different key pair per instance', async () => {
    const [a, b] = await Promise.all([createDemoIdentityProvider(), createDemoIdentityProvider()]);
    expect(a.kid).not.toBe(b.kid);
  });
});
