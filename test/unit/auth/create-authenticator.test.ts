import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCallerAuthenticator } from '../../../src/auth/create-authenticator.js';
import { configSchema, type CallerAuthConfig } from '../../../src/config/schema.js';
import { createDemoIdentityProvider } from '../../../src/demo/demo-identity.js';

const INTROSPECT = 'https://idp.test/introspect';
const server = setupServer(
  http.post(INTROSPECT, () => HttpResponse.json({ active: true, sub: 'u', team: 'team-i', user_type: 'CLINICIAN' })),
);
beforeAll(() => server.listen({ onUnhandledRequest: 'error' }));
afterAll(() => server.close());

function callerAuth(input: unknown): CallerAuthConfig {
  return configSchema.parse({ callerAuth: input }).callerAuth;
}

describe('createCallerAuthenticator', () => {
  it('builds a JWT authenticator for type jwt', async () => {
    const idp = await createDemoIdentityProvider();
    const dir = await mkdtemp(join(tmpdir(), 'jwks-'));
    try {
      const jwksFile = join(dir, 'jwks.json');
      await idp.writeJwksFile(jwksFile);
      const auth = await createCallerAuthenticator(callerAuth({ type: 'jwt', jwt: { jwksFile, issuer: idp.issuer, audience: idp.audience } }));
      const token = await idp.mint({ sub: 'u', team: 'team-j', user_type: 'CLINICIAN' });
      expect((await auth.authenticate(`Bearer ${token}`)).teamId).toBe('team-j');
      await auth.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('builds an introspection authenticator for type introspection', async () => {
    const auth = await createCallerAuthenticator(
      callerAuth({ type: 'introspection', introspection: { url: INTROSPECT, clientId: 'c', clientSecret: 's' } }),
    );
    expect((await auth.authenticate('Bearer opaque')).teamId).toBe('team-i');
    await auth.close();
  });

  it('fails at start-up, naming the key, when the selected settings are absent', async () => {
    const config = { ...callerAuth({ type: 'introspection', introspection: { url: INTROSPECT, clientId: 'c', clientSecret: 's' } }), type: 'jwt' as const };
    await expect(createCallerAuthenticator(config)).rejects.toThrow(/^callerAuth\.jwt: /);
  });
});
