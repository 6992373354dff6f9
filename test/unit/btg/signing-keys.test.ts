import { chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, jwtVerify, SignJWT, type JWK } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { generateKeyFile, loadSigningKeys, type SigningAlg } from '../../../src/btg/signing-keys.js';
import type { SigningConfig } from '../../../src/config/schema.js';

const SECRET = 'correct horse battery staple, 32+ bytes long';
let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keys-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function signing(overrides: Partial<SigningConfig> = {}): SigningConfig {
  return { alg: 'EdDSA', issuer: 'btg-gateway', audience: 'btg-gateway', verifyKeys: [], ...overrides };
}

async function jwkFile(name: string, jwk: object): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, JSON.stringify(jwk));
  return path;
}

async function privateJwk(alg: 'EdDSA' | 'ES256'): Promise<JWK> {
  return exportJWK((await generateKeyPair(alg, { extractable: true })).privateKey);
}

describe('loadSigningKeys', () => {
  it.each<SigningAlg>(['EdDSA', 'ES256', 'HS256'])('generates an ephemeral %s key when none is configured, and says so', async (alg) => {
    const keys = await loadSigningKeys(signing({ alg }));
    expect(keys.ephemeral).toBe(true);
    expect(keys.signing.alg).toBe(alg);
    expect(keys.verification).toHaveLength(1);
    expect(keys.verification[0]!.kid).toBe(keys.signing.kid);
  });

  it('is not ephemeral with a configured key', async () => {
    const keys = await loadSigningKeys(signing({ alg: 'HS256', secret: SECRET }));
    expect(keys.ephemeral).toBe(false);
  });

  it('rejects an HS256 secret shorter than 32 bytes, naming the key', async () => {
    await expect(loadSigningKeys(signing({ alg: 'HS256', secret: 'x'.repeat(31) }))).rejects.toThrow(
      'btg.signing.secret: must be at least 32 bytes (256 bits)',
    );
    // Counted in UTF-8 bytes, not characters: 11 three-byte characters are 33 bytes.
    await expect(loadSigningKeys(signing({ alg: 'HS256', secret: '€'.repeat(11) }))).resolves.toBeDefined();
  });

  it('rejects a short oct JWK and a short verification secret', async () => {
    const keyFile = await jwkFile('short.jwk', { kty: 'oct', k: Buffer.alloc(16).toString('base64url') });
    await expect(loadSigningKeys(signing({ alg: 'HS256', keyFile }))).rejects.toThrow('btg.signing.keyFile: must be at least 32 bytes (256 bits)');
    await expect(loadSigningKeys(signing({ alg: 'HS256', secret: SECRET, verifyKeys: [{ alg: 'HS256', secret: 'short' }] }))).rejects.toThrow(
      'btg.signing.verifyKeys[0].secret: must be at least 32 bytes (256 bits)',
    );
  });

  it('rejects a secret with an asymmetric alg', async () => {
    await expect(loadSigningKeys(signing({ alg: 'EdDSA', secret: SECRET }))).rejects.toThrow(/^btg\.signing\.secret: .*HS256/);
  });

  it.each([
    ['an ES256 key for EdDSA', 'EdDSA' as const, () => privateJwk('ES256'), /needs a JWK of kty OKP with crv Ed25519/],
    ['an EdDSA key for ES256', 'ES256' as const, () => privateJwk('EdDSA'), /needs a JWK of kty EC with crv P-256/],
    ['an oct key for EdDSA', 'EdDSA' as const, async () => ({ kty: 'oct', k: Buffer.alloc(32).toString('base64url') }), /kty OKP/],
    ['a JWK whose alg disagrees', 'ES256' as const, async () => ({ ...(await privateJwk('ES256')), alg: 'ES384' }), /is for alg ES384/],
    ['an encryption JWK', 'ES256' as const, async () => ({ ...(await privateJwk('ES256')), use: 'enc' }), /use is "enc"/],
    ['a public JWK as signing key', 'ES256' as const, async () => exportJWK((await generateKeyPair('ES256')).publicKey), /must be a private JWK/],
  ])('rejects %s, naming btg.signing.keyFile', async (_case, alg, makeJwk, message) => {
    const keyFile = await jwkFile('key.jwk', await makeJwk());
    const err = await loadSigningKeys(signing({ alg, keyFile })).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/^btg\.signing\.keyFile: /);
    expect((err as Error).message).toMatch(message);
  });

  it('reports an unreadable or non-JSON key file without echoing its content', async () => {
    await expect(loadSigningKeys(signing({ keyFile: join(dir, 'absent.jwk') }))).rejects.toThrow(/^btg\.signing\.keyFile: cannot read .*ENOENT/);
    const garbage = join(dir, 'garbage.jwk');
    await writeFile(garbage, 'd=SECRET-MATERIAL');
    const err = (await loadSigningKeys(signing({ keyFile: garbage })).catch((e: Error) => e)) as Error;
    expect(err.message).toMatch(/^btg\.signing\.keyFile: .* is not a JSON Web Key$/);
    expect(err.message).not.toContain('SECRET-MATERIAL');
  });

  it('takes kid from config, else from the JWK, else the RFC 7638 thumbprint', async () => {
    const jwk = await privateJwk('EdDSA');
    const thumbprint = await calculateJwkThumbprint({ kty: jwk.kty!, crv: jwk.crv!, x: jwk.x! });
    const withKid = await jwkFile('with-kid.jwk', { ...jwk, kid: 'from-file' });
    const withoutKid = await jwkFile('without-kid.jwk', jwk);
    expect((await loadSigningKeys(signing({ keyFile: withKid, kid: 'from-config' }))).signing.kid).toBe('from-config');
    expect((await loadSigningKeys(signing({ keyFile: withKid }))).signing.kid).toBe('from-file');
    expect((await loadSigningKeys(signing({ keyFile: withoutKid }))).signing.kid).toBe(thumbprint);
  });

  it('derives an HS256 kid from a hash, never from the secret itself', async () => {
    const { kid } = (await loadSigningKeys(signing({ alg: 'HS256', secret: SECRET }))).signing;
    expect(kid).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(kid).not.toContain(Buffer.from(SECRET).toString('base64url').slice(0, 12));
    expect(kid).not.toContain(SECRET.slice(0, 8));
  });

  it('loads verification-only keys from public or private JWK files and secrets', async () => {
    const old = await generateKeyPair('ES256', { extractable: true });
    const publicFile = await jwkFile('old-public.jwk', { ...(await exportJWK(old.publicKey)), kid: 'old-es' });
    const privateFile = await jwkFile('old-private.jwk', { ...(await privateJwk('EdDSA')), kid: 'old-ed' });
    const keys = await loadSigningKeys(
      signing({
        verifyKeys: [
          { alg: 'ES256', keyFile: publicFile },
          { alg: 'EdDSA', keyFile: privateFile },
          { alg: 'HS256', secret: SECRET, kid: 'old-hs' },
        ],
      }),
    );
    expect(keys.verification.map((k) => [k.alg, k.kid])).toEqual([
      ['EdDSA', keys.signing.kid],
      ['ES256', 'old-es'],
      ['EdDSA', 'old-ed'],
      ['HS256', 'old-hs'],
    ]);
    expect(keys.verification[2]!.publicJwk).not.toHaveProperty('d');
    expect(keys.verification[3]!.publicJwk).toBeUndefined();
  });

  it('rejects two keys with the same kid', async () => {
    await expect(
      loadSigningKeys(signing({ alg: 'HS256', secret: SECRET, kid: 'k1', verifyKeys: [{ alg: 'HS256', secret: `${SECRET}!`, kid: 'k1' }] })),
    ).rejects.toThrow(/^btg\.signing\.verifyKeys\[0\]\.kid: "k1" is already used/);
  });

  it('never puts a secret into an error message', async () => {
    const secret = 'short-but-secret';
    const messages = await Promise.all([
      loadSigningKeys(signing({ alg: 'HS256', secret })).catch((e: Error) => e.message),
      loadSigningKeys(signing({ alg: 'EdDSA', secret: SECRET })).catch((e: Error) => e.message),
    ]);
    expect(messages.join('\n')).not.toContain(secret);
    expect(messages.join('\n')).not.toContain(SECRET);
  });
});

describe('generateKeyFile', () => {
  it.each<'EdDSA' | 'ES256'>(['EdDSA', 'ES256'])('writes a %s private JWK with mode 0600 whose public JWK verifies its tokens', async (alg) => {
    const out = join(dir, 'signing.jwk');
    const { publicJwk, kid } = await generateKeyFile(alg, out);
    expect((await stat(out)).mode & 0o777).toBe(0o600);
    const written = JSON.parse(await readFile(out, 'utf8')) as JWK;
    expect(written).toMatchObject({ kid, alg, use: 'sig' });
    expect(typeof written.d).toBe('string');
    expect(kid).toBe(await calculateJwkThumbprint(publicJwk!));
    expect(publicJwk).not.toHaveProperty('d');
    expect(publicJwk).toMatchObject({ kid, alg, use: 'sig' });

    const token = await new SignJWT({ sub: 'x' }).setProtectedHeader({ alg, kid }).sign(await importJWK(written, alg));
    const { payload } = await jwtVerify(token, await importJWK(publicJwk!, alg), { algorithms: [alg] });
    expect(payload.sub).toBe('x');

    const keys = await loadSigningKeys(signing({ alg, keyFile: out }));
    expect(keys.signing.kid).toBe(kid);
    expect(keys.ephemeral).toBe(false);
  });

  it('writes an HS256 oct JWK of 32 random bytes and returns nothing public', async () => {
    const out = join(dir, 'hs.jwk');
    const result = await generateKeyFile('HS256', out);
    expect(result.publicJwk).toBeUndefined();
    const written = JSON.parse(await readFile(out, 'utf8')) as JWK;
    expect(written).toMatchObject({ kty: 'oct', alg: 'HS256', use: 'sig', kid: result.kid });
    expect(Buffer.from(written.k!, 'base64url')).toHaveLength(32);
    expect((await loadSigningKeys(signing({ alg: 'HS256', keyFile: out }))).signing.kid).toBe(result.kid);
  });

  it('refuses to overwrite an existing file unless forced, and a forced replacement is 0600 too', async () => {
    const out = join(dir, 'existing.jwk');
    await writeFile(out, 'keep me');
    await chmod(out, 0o644);
    await expect(generateKeyFile('EdDSA', out)).rejects.toThrow(/already exists/);
    expect(await readFile(out, 'utf8')).toBe('keep me');

    await generateKeyFile('EdDSA', out, { force: true });
    expect((await stat(out)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(out, 'utf8'))).toHaveProperty('d');
    expect(await readdir(dir)).toEqual(['existing.jwk']);
  });
});
