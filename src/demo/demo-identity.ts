import { writeFile } from 'node:fs/promises';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type JSONWebKeySet, type JWTPayload } from 'jose';

export type DemoAlg = 'ES256' | 'EdDSA';

export interface DemoIdentityOptions {
  issuer?: string;
  audience?: string;
  alg?: DemoAlg;
  /** Epoch milliseconds used for `iat`/`exp`; injectable for tests with a fake clock. */
  now?: () => number;
}

/** A team client's login: the claims `callerAuth.claims` reads by default. */
export interface DemoLogin {
  sub: string;
  team: string;
  user_type: string;
  scope?: string | string[];
  /** Lifetime from now; negative mints an already expired token. Default one hour. */
  expiresInSeconds?: number;
}

export interface DemoIdentityProvider {
  readonly issuer: string;
  readonly audience: string;
  readonly alg: DemoAlg;
  readonly kid: string;
  /** The public key set, as a JWKS endpoint would serve it. */
  readonly jwks: JSONWebKeySet;
  writeJwksFile(path: string): Promise<void>;
  /** A signed bearer token with this provider's iss and aud. */
  mint(login: DemoLogin): Promise<string>;
  /** Signs exactly `payload` (no iss, aud, iat or exp added) with this provider's key: for tests of bad tokens. */
  sign(payload: JWTPayload): Promise<string>;
}

export const DEMO_ISSUER = 'https://demo-idp.btg-gateway.invalid';
export const DEMO_AUDIENCE = 'btg-gateway';
const DEFAULT_LIFETIME_SECONDS = 3600;

/**
 * An in-process identity provider for `btg-gateway demo` and tests. Its key pair is generated at
 * start-up and lives only in memory, so no private key is ever committed or written to disk.
 */
export async function createDemoIdentityProvider(options: DemoIdentityOptions = {}): Promise<DemoIdentityProvider> {
  const alg = options.alg ?? 'ES256';
  const issuer = options.issuer ?? DEMO_ISSUER;
  const audience = options.audience ?? DEMO_AUDIENCE;
  const now = options.now ?? Date.now;
  const { privateKey, publicKey } = await generateKeyPair(alg);
  const publicJwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  const jwks: JSONWebKeySet = { keys: [{ ...publicJwk, kid, alg, use: 'sig' }] };

  const sign = (payload: JWTPayload): Promise<string> =>
    new SignJWT(payload).setProtectedHeader({ alg, kid, typ: 'JWT' }).sign(privateKey);

  return {
    issuer,
    audience,
    alg,
    kid,
    jwks,
    async writeJwksFile(path) {
      await writeFile(path, `${JSON.stringify(jwks, null, 2)}\n`);
    },
    mint({ expiresInSeconds = DEFAULT_LIFETIME_SECONDS, ...claims }) {
      const iat = Math.floor(now() / 1000);
      return sign({ ...claims, iss: issuer, aud: audience, iat, exp: iat + expiresInSeconds });
    },
    sign,
  };
}
