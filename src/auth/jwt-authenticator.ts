import { readFile } from 'node:fs/promises';
import { createLocalJWKSet, createRemoteJWKSet, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import type { CallerAuthConfig } from '../config/schema.js';
import { ExpiringCache } from '../expiring-cache.js';
import type { Logger } from '../logger.js';
import { tokenDigest } from '../token-digest.js';
import { identityProviderUnavailable, loginContextNull } from './auth-errors.js';
import { parseBearerToken } from './bearer.js';
import { toLoginContext, type ClaimNames } from './claims.js';
import type { CallerAuthenticator, LoginContext } from './login-context.js';

export type JwtAuthConfig = NonNullable<CallerAuthConfig['jwt']>;

export interface AuthenticatorOptions {
  /** Epoch milliseconds; injectable so expiry can be tested without sleeping. */
  now?: () => number;
  logger?: Logger;
}

/** Thrown by the key resolver when the key set itself cannot be had; mapped to 502, never 401. */
class KeySetUnavailable extends Error {}

/**
 * Verifies the caller's bearer JWT against a JWKS (remote or a file read once at start-up) with the
 * issuer, audience and algorithms pinned. Verified login contexts are cached by token digest until the
 * token's `exp`, and never longer than the key set's own cache age: a key withdrawn by the identity
 * provider stops authenticating cached tokens within that window.
 */
export async function createJwtAuthenticator(
  config: JwtAuthConfig,
  claimNames: ClaimNames,
  options: AuthenticatorOptions & { cacheMaxEntries: number },
): Promise<CallerAuthenticator> {
  const now = options.now ?? Date.now;
  const resolveKey = separateOutages(await keySet(config));
  const cache = new ExpiringCache<LoginContext>(options.cacheMaxEntries, now);
  if (config.audience === undefined) {
    options.logger?.warn('callerAuth.jwt.audience is not set: tokens issued for any audience are accepted');
  }

  async function verify(token: string): Promise<JWTPayload> {
    try {
      const { payload } = await jwtVerify(token, resolveKey, {
        algorithms: config.algorithms,
        issuer: config.issuer,
        audience: config.audience,
        clockTolerance: config.clockToleranceSeconds,
        currentDate: new Date(now()),
        // Without exp a stolen token would authenticate forever, and the cache would have no bound.
        requiredClaims: ['exp'],
      });
      return payload;
    } catch (err) {
      if (err instanceof KeySetUnavailable) {
        options.logger?.warn({ err: err.cause }, 'caller JWKS unavailable');
        throw identityProviderUnavailable(err.cause);
      }
      // No cause attached: jose errors carry the decoded claim set, which has no place in logs.
      throw loginContextNull(rejectionReason(err));
    }
  }

  return {
    async authenticate(authorization) {
      const token = parseBearerToken(authorization);
      const key = tokenDigest(token);
      const cached = cache.get(key);
      if (cached !== undefined) return cached;
      const context = toLoginContext(await verify(token), claimNames);
      cache.set(key, context, Math.min(context.expiresAt! * 1000, now() + config.jwksCacheMaxAgeMs));
      return context;
    },
    async close() {
      cache.clear();
    },
  };
}

async function keySet(config: JwtAuthConfig): Promise<JWTVerifyGetKey> {
  if (config.jwksUrl !== undefined && config.jwksFile !== undefined) {
    throw new Error('callerAuth.jwt: jwksUrl and jwksFile are mutually exclusive');
  }
  if (config.jwksUrl !== undefined) {
    return createRemoteJWKSet(new URL(config.jwksUrl), {
      cacheMaxAge: config.jwksCacheMaxAgeMs,
      cooldownDuration: config.jwksCooldownMs,
    });
  }
  return localKeySet(config.jwksFile!);
}

async function localKeySet(file: string): Promise<JWTVerifyGetKey> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new Error(`callerAuth.jwt.jwksFile: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  try {
    return createLocalJWKSet(JSON.parse(text));
  } catch {
    throw new Error(`callerAuth.jwt.jwksFile: ${file} is not a JSON Web Key Set`);
  }
}

/**
 * jose surfaces fetch failures, timeouts, non-200 answers and unusable key sets from inside the key
 * resolver. Only "no key for this token" is the caller's problem; everything else is an outage.
 */
function separateOutages(resolve: JWTVerifyGetKey): JWTVerifyGetKey {
  return async (header, token) => {
    try {
      return await resolve(header, token);
    } catch (err) {
      if (
        err instanceof errors.JWKSNoMatchingKey ||
        err instanceof errors.JWKSMultipleMatchingKeys ||
        err instanceof errors.JOSENotSupported
      ) {
        throw err;
      }
      throw new KeySetUnavailable('key set unavailable', { cause: err });
    }
  };
}

function rejectionReason(err: unknown): string {
  if (err instanceof errors.JWTExpired) return 'token expired';
  if (err instanceof errors.JOSEAlgNotAllowed) return 'algorithm not allowed';
  if (err instanceof errors.JWTClaimValidationFailed) return `${err.reason === 'missing' ? 'missing' : 'invalid'} ${err.claim} claim`;
  return 'invalid token';
}
