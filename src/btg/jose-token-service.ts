import { randomUUID } from 'node:crypto';
import { decodeProtectedHeader, errors, jwtVerify, SignJWT, type JWTPayload, type ProtectedHeaderParameters } from 'jose';
import type { SigningConfig } from '../config/schema.js';
import { GatewayError } from '../errors.js';
import { ExpiringCache } from '../expiring-cache.js';
import { tokenDigest } from '../token-digest.js';
import type { BtgClaims, BtgTokenService, IssueRequest } from './btg-token.js';
import type { LoadedKeys, VerificationKey } from './signing-keys.js';

export const BTG_TOKEN_TYPE = 'btg+jwt';

export interface TokenLifetimes {
  ttlSeconds: number;
  maxTtlSeconds: number;
  /** Defaults to maxTtlSeconds: no token of ours may be older than the longest TTL we would issue. */
  maxTokenAgeSeconds?: number;
  clockToleranceSeconds: number;
}

export interface TokenServiceOptions {
  keys: LoadedKeys;
  /** Epoch milliseconds; injectable so expiry can be tested without sleeping. */
  now?: () => number;
  /** Bound on remembered verifications. */
  cacheMaxEntries?: number;
}

export interface VerificationCacheStats {
  hits: number;
  misses: number;
}

export interface JoseTokenService extends BtgTokenService {
  /** How often `verify` answered from its cache and how often it ran a signature check. */
  cacheStats(): VerificationCacheStats;
}

const REQUIRED_CLAIMS = ['exp', 'iat', 'jti', 'pkbId', 'team', 'sub'] as const;
const DEFAULT_CACHE_MAX_ENTRIES = 10_000;

const invalidToken = (): GatewayError => new GatewayError(401, 'invalid_token', 'BTG token is invalid');
const expiredToken = (): GatewayError => new GatewayError(401, 'token_expired', 'BTG token has expired');

/**
 * BTG tokens as compact JWS (`typ: btg+jwt`, `kid`), signed with the configured key and verified
 * against it and the rotation keys. Successful verifications are cached by token digest: a jose
 * verification costs more than forwarding a request, and a token's validity cannot change before its
 * deadline (revocation is the grant store's business, not this cache's).
 */
export function createTokenService(signing: SigningConfig, lifetimes: TokenLifetimes, options: TokenServiceOptions): JoseTokenService {
  const now = options.now ?? Date.now;
  const { keys } = options;
  const keysByKid = new Map(keys.verification.map((key) => [key.kid, key]));
  const maxTokenAge = lifetimes.maxTokenAgeSeconds ?? lifetimes.maxTtlSeconds;
  const tolerance = lifetimes.clockToleranceSeconds;
  const cache = new ExpiringCache<BtgClaims>(options.cacheMaxEntries ?? DEFAULT_CACHE_MAX_ENTRIES, now);
  const stats: VerificationCacheStats = { hits: 0, misses: 0 };

  /** The first instant jose would refuse these claims; from then on a cache hit must not answer. */
  const refusedFrom = (claims: BtgClaims): number =>
    Math.min(claims.exp + tolerance, claims.iat + maxTokenAge + tolerance + 1) * 1000;

  async function verifySignedToken(token: string): Promise<BtgClaims> {
    const key = keysByKid.get(headerOf(token).kid ?? '');
    if (key === undefined) throw invalidToken();
    try {
      const { payload } = await jwtVerify(token, key.key, {
        algorithms: [key.alg],
        typ: BTG_TOKEN_TYPE,
        issuer: signing.issuer,
        audience: signing.audience,
        requiredClaims: [...REQUIRED_CLAIMS],
        maxTokenAge,
        clockTolerance: tolerance,
        currentDate: new Date(now()),
      });
      return btgClaims(payload);
    } catch (err) {
      if (err instanceof GatewayError) throw err;
      throw err instanceof errors.JWTExpired ? expiredToken() : invalidToken();
    }
  }

  return {
    async issue(request: IssueRequest) {
      const iat = Math.floor(now() / 1000);
      const claims: BtgClaims = {
        iss: signing.issuer,
        aud: signing.audience,
        sub: request.userId,
        team: request.teamId,
        pkbId: request.pkbId,
        jti: randomUUID(),
        iat,
        exp: iat + lifetimes.ttlSeconds,
        ...(request.reason !== undefined && { reason: request.reason }),
      };
      const token = await new SignJWT({ ...claims })
        .setProtectedHeader({ alg: keys.signing.alg, typ: BTG_TOKEN_TYPE, kid: keys.signing.kid })
        .sign(keys.signing.key);
      return { token, claims };
    },

    async verify(token: string) {
      const digest = tokenDigest(token);
      const cached = cache.get(digest);
      if (cached !== undefined) {
        stats.hits += 1;
        return cached;
      }
      stats.misses += 1;
      const claims = await verifySignedToken(token);
      cache.set(digest, claims, refusedFrom(claims));
      return claims;
    },

    publicJwks() {
      return { keys: keys.verification.flatMap((key: VerificationKey) => (key.publicJwk ? [{ ...key.publicJwk }] : [])) };
    },

    cacheStats: () => ({ ...stats }),
  };
}

function headerOf(token: string): ProtectedHeaderParameters {
  try {
    return decodeProtectedHeader(token);
  } catch {
    throw invalidToken();
  }
}

/** jose has checked presence and the registered claims; the private ones need their shapes checked here. */
function btgClaims(payload: JWTPayload): BtgClaims {
  const { iss, aud, sub, team, pkbId, jti, iat, exp, reason } = payload;
  const texts = [iss, aud, sub, team, pkbId, jti];
  if (!texts.every(isNonEmptyString) || !Number.isInteger(iat) || !Number.isInteger(exp)) throw invalidToken();
  if (reason !== undefined && typeof reason !== 'string') throw invalidToken();
  // Frozen because the same object is handed to every request that presents this token.
  return Object.freeze({
    iss: iss as string,
    aud: aud as string,
    sub: sub as string,
    team: team as string,
    pkbId: pkbId as string,
    jti: jti as string,
    iat: iat as number,
    exp: exp as number,
    ...(reason !== undefined && { reason }),
  });
}

function isNonEmptyString(value: unknown): value is string {
  return typeof value === 'string' && value !== '';
}
