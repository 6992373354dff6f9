import type { CallerAuthConfig } from '../config/schema.js';
import { createIntrospectionAuthenticator } from './introspection-authenticator.js';
import { createJwtAuthenticator, type AuthenticatorOptions } from './jwt-authenticator.js';
import type { CallerAuthenticator } from './login-context.js';

/** The caller authenticator `callerAuth.type` asks for. Start-up problems throw a plain Error naming the key. */
export async function createCallerAuthenticator(
  config: CallerAuthConfig,
  options: AuthenticatorOptions = {},
): Promise<CallerAuthenticator> {
  const shared = { ...options, cacheMaxEntries: config.cacheMaxEntries };
  switch (config.type) {
    case 'jwt':
      return createJwtAuthenticator(required(config.jwt, 'callerAuth.jwt'), config.claims, shared);
    case 'introspection':
      return createIntrospectionAuthenticator(required(config.introspection, 'callerAuth.introspection'), config.claims, shared);
  }
}

function required<T>(value: T | undefined, path: string): T {
  if (value === undefined) throw new Error(`${path}: required when callerAuth.type selects it`);
  return value;
}
