import type { AccessPolicy } from './access/btg-decision.js';
import type { ClassifyOptions } from './access/classify.js';
import { compileRoutes } from './access/route-matcher.js';
import { createTokenService, type JoseTokenService } from './btg/jose-token-service.js';
import { loadSigningKeys } from './btg/signing-keys.js';
import { ConfigError } from './config/load.js';
import type { GatewayConfig } from './config/schema.js';
import type { Logger } from './logger.js';

/**
 * Everything a request needs that a config reload (SIGHUP) may replace: routes, enabled teams,
 * limits, keys, audit body mode. A request takes one Runtime when it starts and keeps it, so a
 * reload never changes the rules halfway through a request.
 */
export interface Runtime {
  readonly config: GatewayConfig;
  readonly tokens: JoseTokenService;
  /** No key was configured: the key lives only in this process. */
  readonly ephemeralKeys: boolean;
  readonly access: AccessPolicy;
  readonly classify: ClassifyOptions;
}

export interface RuntimeOptions {
  logger: Logger;
  now: () => number;
  /** The runtime being replaced: an ephemeral key is kept across a reload, or every token would die. */
  previous?: Runtime;
}

/**
 * Derives the runtime from a validated config. What can still be wrong at this point (a key file
 * missing or of the wrong type, a route rule that does not compile) is a configuration problem, and
 * is reported as one: exit 2 at start-up, a rejected reload, a failed `check-config`.
 */
export async function buildRuntime(config: GatewayConfig, options: RuntimeOptions): Promise<Runtime> {
  try {
    return await derive(config, options);
  } catch (err) {
    throw new ConfigError('(keys and routes)', [(err as Error).message]);
  }
}

async function derive(config: GatewayConfig, options: RuntimeOptions): Promise<Runtime> {
  const access: AccessPolicy = { methods: new Set(config.btg.methods), routes: compileRoutes(config.btg.routes) };
  const previous = options.previous;
  const keep = previous?.ephemeralKeys === true && sameSigning(config, previous);
  const { tokens, ephemeralKeys } = keep ? previous : await createTokens(config, options);
  return {
    config,
    tokens,
    ephemeralKeys,
    access,
    classify: { btgPath: config.btg.path, btgHeader: config.btg.header, maxTokenBytes: config.btg.maxTokenBytes },
  };
}

async function createTokens(config: GatewayConfig, options: RuntimeOptions): Promise<{ tokens: JoseTokenService; ephemeralKeys: boolean }> {
  const keys = await loadSigningKeys(config.btg.signing);
  if (keys.ephemeral) {
    options.logger.warn(
      { alg: keys.signing.alg, kid: keys.signing.kid },
      'NO BTG SIGNING KEY CONFIGURED: using an ephemeral key. Every BTG token dies with this process and replicas cannot verify each other\'s tokens. Set btg.signing.keyFile (btg-gateway keys generate) or btg.signing.secret.',
    );
  }
  return { tokens: createTokenService(config.btg.signing, config.btg, { keys, now: options.now }), ephemeralKeys: keys.ephemeral };
}

function sameSigning(config: GatewayConfig, previous: Runtime): boolean {
  const relevant = (c: GatewayConfig) =>
    JSON.stringify([c.btg.signing, c.btg.ttlSeconds, c.btg.maxTtlSeconds, c.btg.maxTokenAgeSeconds, c.btg.clockToleranceSeconds]);
  return relevant(config) === relevant(previous.config);
}
