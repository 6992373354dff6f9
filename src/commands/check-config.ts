import { loadConfigFile } from '../config/load.js';
import { createLogger } from '../logger.js';
import { buildRuntime } from '../runtime.js';
import { EXIT_OK } from './exit-codes.js';

/**
 * Validates a config file exactly as `serve` would, without starting anything: the schema, and then
 * what start-up derives from it (signing keys read and imported, route rules compiled), so a file
 * that passes here does not fail at start.
 */
export async function checkConfig(file: string, env: Readonly<Record<string, string | undefined>>, out: NodeJS.WritableStream): Promise<number> {
  const config = loadConfigFile(file, env);
  const { ephemeralKeys } = await buildRuntime(config, { logger: createLogger('silent'), now: Date.now });
  out.write(`${file}: ok (upstream ${config.upstream.url}, caller auth ${config.callerAuth.type}, ${config.btg.routes.length} BTG routes)\n`);
  if (ephemeralKeys) out.write('note: no btg.signing key is configured; serve would sign with an ephemeral key\n');
  return EXIT_OK;
}
