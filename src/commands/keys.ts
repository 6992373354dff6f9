import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { generateKeyFile, type SigningAlg } from '../btg/signing-keys.js';
import { EXIT_OK, UsageError } from './exit-codes.js';

/** `keys generate`: a private JWK (mode 0600) for btg.signing.keyFile; prints the public half. */
export async function generateKeys(alg: SigningAlg, out: string, force: boolean, stdout: NodeJS.WritableStream): Promise<number> {
  let generated;
  try {
    // A new directory for keys is readable by the owner only, like the key itself.
    await mkdir(dirname(out), { recursive: true, mode: 0o700 });
    generated = await generateKeyFile(alg, out, { force });
  } catch (err) {
    // An existing file, a missing directory: all things the operator fixes in the command line.
    throw new UsageError((err as Error).message);
  }
  stdout.write(`wrote private ${alg} key ${generated.kid} to ${out} (mode 0600): set btg.signing.keyFile to it\n`);
  stdout.write(
    generated.publicJwk
      ? `public JWK (also served at /.well-known/jwks.json):\n${JSON.stringify(generated.publicJwk, null, 2)}\n`
      : 'HS256 is symmetric: there is no public key; every verifier needs this secret file.\n',
  );
  return EXIT_OK;
}
