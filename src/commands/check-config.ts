import { loadConfigFile } from '../config/load.js';
import { EXIT_OK } from './exit-codes.js';

/** Validates a config file exactly as `serve` would, without starting anything. */
export function checkConfig(file: string, env: Readonly<Record<string, string | undefined>>, out: NodeJS.WritableStream): number {
  const config = loadConfigFile(file, env);
  out.write(`${file}: ok (upstream ${config.upstream.url}, caller auth ${config.callerAuth.type}, ${config.btg.routes.length} BTG routes)\n`);
  return EXIT_OK;
}
