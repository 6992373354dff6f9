import type { CallerAuthConfig } from '../config/schema.js';
import { ExpiringCache } from '../expiring-cache.js';
import { tokenDigest } from '../token-digest.js';
import { identityProviderUnavailable, loginContextNull } from './auth-errors.js';
import { parseBearerToken } from './bearer.js';
import { toLoginContext, type ClaimNames, type ClaimSet } from './claims.js';
import type { AuthenticatorOptions } from './jwt-authenticator.js';
import type { CallerAuthenticator, LoginContext } from './login-context.js';

export type IntrospectionConfig = NonNullable<CallerAuthConfig['introspection']>;

/** What the authorization server said about one token. */
type Introspection = { active: true; claims: ClaimSet } | { active: false };

/**
 * RFC 7662 token introspection. Answers are cached by token digest: "active" until
 * min(now + cacheSeconds, exp), "inactive" for negativeCacheSeconds. Endpoint failures are never
 * cached, and concurrent requests for one token share a single introspection call.
 */
export function createIntrospectionAuthenticator(
  config: IntrospectionConfig,
  claimNames: ClaimNames,
  options: AuthenticatorOptions & { cacheMaxEntries: number },
): CallerAuthenticator {
  const now = options.now ?? Date.now;
  const cache = new ExpiringCache<Introspection>(options.cacheMaxEntries, now);
  const inFlight = new Map<string, Promise<Introspection>>();
  const basicAuth = `Basic ${Buffer.from(`${formEncode(config.clientId)}:${formEncode(config.clientSecret)}`).toString('base64')}`;

  async function introspectAndCache(key: string, token: string): Promise<Introspection> {
    const result = await introspect(config, basicAuth, token);
    cache.set(key, result, cacheDeadline(result, config, now()));
    return result;
  }

  function lookup(key: string, token: string): Promise<Introspection> {
    const cached = cache.get(key);
    if (cached !== undefined) return Promise.resolve(cached);
    let pending = inFlight.get(key);
    if (pending === undefined) {
      pending = introspectAndCache(key, token).finally(() => inFlight.delete(key));
      inFlight.set(key, pending);
    }
    return pending;
  }

  return {
    async authenticate(authorization): Promise<LoginContext> {
      const token = parseBearerToken(authorization);
      let result: Introspection;
      try {
        result = await lookup(tokenDigest(token), token);
      } catch (err) {
        options.logger?.warn({ err }, 'token introspection endpoint unavailable');
        throw identityProviderUnavailable(err);
      }
      if (!result.active) throw loginContextNull('token inactive');
      const context = toLoginContext(result.claims, claimNames);
      if (context.expiresAt !== undefined && context.expiresAt * 1000 <= now()) throw loginContextNull('token expired');
      return context;
    },
    async close() {
      cache.clear();
    },
  };
}

function cacheDeadline(result: Introspection, config: IntrospectionConfig, at: number): number {
  if (!result.active) return at + config.negativeCacheSeconds * 1000;
  const byConfig = at + config.cacheSeconds * 1000;
  const exp = result.claims.exp;
  return typeof exp === 'number' ? Math.min(byConfig, exp * 1000) : byConfig;
}

/** Throws a plain Error on any endpoint failure; the caller turns it into a 502. */
async function introspect(config: IntrospectionConfig, basicAuth: string, token: string): Promise<Introspection> {
  const response = await fetch(config.url, {
    method: 'POST',
    headers: { authorization: basicAuth, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: new URLSearchParams({ token, token_type_hint: 'access_token' }).toString(),
    // Client credentials must not follow a redirect to wherever it points.
    redirect: 'manual',
    signal: AbortSignal.timeout(config.timeoutMs),
  });
  if (response.status !== 200) {
    // Frees the connection; not awaited, since a stalled body must not delay the 502.
    response.body?.cancel().catch(() => undefined);
    throw new Error(`introspection endpoint answered ${response.status}`);
  }
  const body: unknown = await response.json();
  if (typeof body !== 'object' || body === null || Array.isArray(body) || typeof (body as ClaimSet).active !== 'boolean') {
    throw new Error('introspection response is not an RFC 7662 object');
  }
  const claims = body as ClaimSet;
  return claims.active === true ? { active: true, claims } : { active: false };
}

/** RFC 6749 section 2.3.1: client id and secret are form-encoded before they go into Basic auth. */
function formEncode(value: string): string {
  return new URLSearchParams({ v: value }).toString().slice(2);
}
