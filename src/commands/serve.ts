import { ConfigError, loadConfigFile } from '../config/load.js';
import { startGateway, type Gateway } from '../gateway.js';
import { createLogger, type Logger } from '../logger.js';
import { EXIT_OK } from './exit-codes.js';
import { untilStopSignal } from './signals.js';

export interface ServeOptions {
  config: string;
  logLevel?: string;
  env: Readonly<Record<string, string | undefined>>;
}

/** Runs the gateway until SIGTERM/SIGINT, reloading its config on SIGHUP. */
export async function serve(options: ServeOptions): Promise<number> {
  const config = loadConfigFile(options.config, options.env);
  const logger = createLogger(options.logLevel ?? config.logging.level);
  const gateway = await startGateway(config, { logger });
  const onHangup = (): void => void reloadFrom(options, gateway, logger);
  process.on('SIGHUP', onHangup);
  const signal = await untilStopSignal();
  process.off('SIGHUP', onHangup);
  logger.info({ signal }, 'shutting down');
  await gateway.stop();
  logger.flush();
  return EXIT_OK;
}

/** A bad new file is rejected whole, every problem logged with its key path; the old config stays. */
async function reloadFrom(options: ServeOptions, gateway: Gateway, logger: Logger): Promise<void> {
  try {
    await gateway.reload(loadConfigFile(options.config, options.env));
  } catch (err) {
    const problems = err instanceof ConfigError ? err.problems : [(err as Error).message];
    logger.error({ file: options.config, problems }, 'configuration reload rejected; keeping the running configuration');
  }
}
