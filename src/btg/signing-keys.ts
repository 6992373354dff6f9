import { randomBytes } from 'node:crypto';
import { readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { base64url, calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';
import type { SigningConfig } from '../config/schema.js';

export type SigningAlg = SigningConfig['alg'];

/** A key that verifies tokens of one `alg` and `kid`. */
export interface VerificationKey {
  readonly alg: SigningAlg;
  readonly kid: string;
  readonly key: CryptoKey;
  /** What `/.well-known/jwks.json` publishes (kty, crv, x, y, kid, alg, use); absent for HS256. */
  readonly publicJwk?: JWK;
}

export interface LoadedKeys {
  readonly signing: { readonly alg: SigningAlg; readonly kid: string; readonly key: CryptoKey };
  /** The signing key's own verification key first, then `verifyKeys` in configured order. */
  readonly verification: readonly VerificationKey[];
  /** No key was configured: this one was generated for this process and dies with it. */
  readonly ephemeral: boolean;
}

export interface GeneratedKeyFile {
  readonly alg: SigningAlg;
  readonly kid: string;
  /** The public JWK to hand to verifiers; HS256 has none, its key file is the shared secret. */
  readonly publicJwk?: JWK;
}

type KeySource = Pick<SigningConfig, 'alg' | 'kid' | 'keyFile' | 'secret'>;

// 256 bits: RFC 7518 section 3.2 requires an HS256 key at least as long as the hash output.
const MIN_SECRET_BYTES = 32;

const KEY_TYPE: Record<SigningAlg, { kty: string; crv?: string }> = {
  EdDSA: { kty: 'OKP', crv: 'Ed25519' },
  ES256: { kty: 'EC', crv: 'P-256' },
  HS256: { kty: 'oct' },
};

const HMAC_SHA256 = { name: 'HMAC', hash: 'SHA-256' } as const;

/**
 * Loads the BTG signing key and the older verification-only keys from `btg.signing`, importing each
 * once. Every start-up problem is a plain Error whose message starts with the config key path and
 * never contains key material.
 */
export async function loadSigningKeys(config: SigningConfig): Promise<LoadedKeys> {
  const ephemeral = config.keyFile === undefined && config.secret === undefined;
  const signingJwk = ephemeral ? await generatePrivateJwk(config.alg) : await readKeyMaterial(config, 'btg.signing');
  const signing = await importSigningKey(config, signingJwk, 'btg.signing');
  const verification = [signing.verification];
  for (const [index, source] of config.verifyKeys.entries()) {
    const path = `btg.signing.verifyKeys[${index}]`;
    const key = await importVerificationKey(source, await readKeyMaterial(source, path), path);
    if (verification.some((k) => k.kid === key.kid)) {
      throw new Error(`${path}.kid: "${key.kid}" is already used by another signing or verification key`);
    }
    verification.push(key);
  }
  return {
    signing: { alg: config.alg, kid: signing.verification.kid, key: signing.key },
    verification,
    ephemeral,
  };
}

/**
 * Writes a new private JWK (with `kid` = RFC 7638 thumbprint, `alg`, `use: sig`) readable by the
 * owner only. The file is created with mode 0600 rather than chmod-ed afterwards, so it is never
 * briefly readable by others; an existing file is only replaced when `force` is set.
 */
export async function generateKeyFile(
  alg: SigningAlg,
  outPath: string,
  options: { force?: boolean } = {},
): Promise<GeneratedKeyFile> {
  const jwk = await generatePrivateJwk(alg);
  await writeOwnerOnly(outPath, `${JSON.stringify(jwk, null, 2)}\n`, options.force ?? false);
  const publicJwk = publicPart(jwk);
  return { alg, kid: jwk.kid!, ...(publicJwk && { publicJwk: describedJwk(publicJwk, alg, jwk.kid!) }) };
}

async function generatePrivateJwk(alg: SigningAlg): Promise<JWK> {
  const jwk: JWK =
    alg === 'HS256'
      ? { kty: 'oct', k: base64url.encode(randomBytes(MIN_SECRET_BYTES)) }
      : await exportJWK((await generateKeyPair(alg, { extractable: true })).privateKey);
  return { ...jwk, kid: await thumbprint(jwk), alg, use: 'sig' };
}

async function readKeyMaterial(source: KeySource, path: string): Promise<JWK> {
  if (source.secret !== undefined) {
    if (source.alg !== 'HS256') {
      throw new Error(`${path}.secret: a secret is only valid with alg HS256 (alg is ${source.alg}); use keyFile`);
    }
    return { kty: 'oct', k: base64url.encode(Buffer.from(source.secret, 'utf8')) };
  }
  const file = source.keyFile!;
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new Error(`${path}.keyFile: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  try {
    const jwk: unknown = JSON.parse(text);
    if (typeof jwk === 'object' && jwk !== null && !Array.isArray(jwk)) return jwk as JWK;
  } catch {
    // Reported below without echoing the file's content, which may be a private key.
  }
  throw new Error(`${path}.keyFile: ${file} is not a JSON Web Key`);
}

async function importSigningKey(source: KeySource, jwk: JWK, path: string): Promise<{ key: CryptoKey; verification: VerificationKey }> {
  const verification = await importVerificationKey(source, jwk, path);
  if (source.alg === 'HS256') {
    const key = await crypto.subtle.importKey('raw', hmacSecret(jwk, materialPath(source, path)), HMAC_SHA256, false, ['sign']);
    return { key, verification };
  }
  if (typeof jwk.d !== 'string') throw new Error(`${path}.keyFile: must be a private JWK (no "d" member)`);
  const privateJwk = { ...publicPart(jwk), d: jwk.d };
  const key = await importOrExplain(() => importJWK(privateJwk, source.alg, { extractable: false }), path);
  return { key: key as CryptoKey, verification };
}

async function importVerificationKey(source: KeySource, jwk: JWK, path: string): Promise<VerificationKey> {
  const where = materialPath(source, path);
  checkKeyType(jwk, source.alg, where);
  const kid = source.kid ?? (typeof jwk.kid === 'string' && jwk.kid !== '' ? jwk.kid : await thumbprint(jwk));
  if (source.alg === 'HS256') {
    const key = await crypto.subtle.importKey('raw', hmacSecret(jwk, where), HMAC_SHA256, false, ['verify']);
    return { alg: source.alg, kid, key };
  }
  const publicJwk = publicPart(jwk)!;
  const key = await importOrExplain(() => importJWK(publicJwk, source.alg), where);
  return { alg: source.alg, kid, key: key as CryptoKey, publicJwk: describedJwk(publicJwk, source.alg, kid) };
}

function materialPath(source: KeySource, path: string): string {
  return source.secret !== undefined ? `${path}.secret` : `${path}.keyFile`;
}

function checkKeyType(jwk: JWK, alg: SigningAlg, where: string): void {
  const expected = KEY_TYPE[alg];
  if (jwk.kty !== expected.kty || (expected.crv !== undefined && jwk.crv !== expected.crv)) {
    const wanted = expected.crv === undefined ? `kty ${expected.kty}` : `kty ${expected.kty} with crv ${expected.crv}`;
    throw new Error(`${where}: alg ${alg} needs a JWK of ${wanted}`);
  }
  if (jwk.alg !== undefined && jwk.alg !== alg) throw new Error(`${where}: the JWK is for alg ${jwk.alg}, not ${alg}`);
  if (jwk.use !== undefined && jwk.use !== 'sig') throw new Error(`${where}: the JWK's use is "${jwk.use}", not "sig"`);
  if (alg === 'HS256' && typeof jwk.k !== 'string') throw new Error(`${where}: an oct JWK needs a "k" member`);
}

function hmacSecret(jwk: JWK, where: string): Uint8Array<ArrayBuffer> {
  let secret: Uint8Array<ArrayBuffer>;
  try {
    secret = new Uint8Array(base64url.decode(jwk.k!));
  } catch {
    throw new Error(`${where}: the JWK's "k" member is not base64url`);
  }
  if (secret.byteLength < MIN_SECRET_BYTES) throw new Error(`${where}: must be at least ${MIN_SECRET_BYTES} bytes (256 bits)`);
  return secret;
}

async function importOrExplain(load: () => Promise<unknown>, where: string): Promise<unknown> {
  try {
    return await load();
  } catch (err) {
    // jose's messages describe structure only, never key bytes.
    throw new Error(`${where}: unusable key: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** The public members of an asymmetric JWK; undefined for a symmetric one. */
function publicPart(jwk: JWK): JWK | undefined {
  if (jwk.kty === 'oct') return undefined;
  return { kty: jwk.kty, crv: jwk.crv, x: jwk.x, ...(jwk.y !== undefined && { y: jwk.y }) };
}

function describedJwk(publicJwk: JWK, alg: SigningAlg, kid: string): JWK {
  return { ...publicJwk, kid, alg, use: 'sig' };
}

/** RFC 7638 thumbprint: of the public key, or for HS256 a hash of the secret (never the secret itself). */
function thumbprint(jwk: JWK): Promise<string> {
  return calculateJwkThumbprint(publicPart(jwk) ?? { kty: 'oct', k: jwk.k });
}

async function writeOwnerOnly(path: string, data: string, force: boolean): Promise<void> {
  if (!force) {
    try {
      await writeFile(path, data, { mode: 0o600, flag: 'wx' });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new Error(`${path} already exists; refusing to overwrite it without --force`);
      throw err;
    }
    return;
  }
  // Replacing via a fresh 0600 file and rename: opening the old file would keep its old mode.
  const temporary = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(temporary, data, { mode: 0o600, flag: 'wx' });
  try {
    await rename(temporary, path);
  } catch (err) {
    await unlink(temporary).catch(() => undefined);
    throw err;
  }
}
