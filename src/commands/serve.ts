import { loadConfigFile } from '../config/load.js';
import { startGateway } from '../gateway.js';
import { createLogger } from '../logger.js';
import { EXIT_OK } from './exit-codes.js';
import { untilStopSignal } from './signals.js';

export interface ServeOptions {
  config: string;
  logLevel?: string;
  env: Readonly<Record<string, string | undefined>>;
}

/** Runs the gateway until SIGTERM/SIGINT, then shuts down gracefully. */
export async function serve(options: ServeOptions): Promise<number> {
  const config = loadConfigFile(options.config, options.env);
  const logger = createLogger(options.logLevel ?? config.logging.level);
  const gateway = await startGateway(config, { logger });
  const signal = await untilStopSignal();
  logger.info({ signal }, 'shutting down');
  await gateway.stop();
  logger.flush();
  return EXIT_OK;
}
