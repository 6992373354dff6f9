import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { validateConfig } from '../../src/config/load.js';
import { createDemoIdentityProvider, type DemoIdentityProvider, type DemoLogin } from '../../src/demo/demo-identity.js';
import type { GatewayConfig } from '../../src/config/schema.js';
import { startGateway, type Gateway } from '../../src/gateway.js';
import { createLogger } from '../../src/logger.js';

export interface RunningGateway {
  gateway: Gateway;
  /** The identity provider the gateway trusts for caller tokens. */
  idp: DemoIdentityProvider;
  /** A caller token: a CLINICIAN of team-a unless overridden. */
  callerToken(login?: Partial<DemoLogin>): Promise<string>;
  config: GatewayConfig;
  url: string;
  adminUrl: string;
  port: number;
  dir: string;
  /** Every log line the gateway wrote, parsed. */
  logs: Record<string, unknown>[];
  /** Raw log text, for "this secret never appears" assertions. */
  logText(): string;
  stop(): Promise<void>;
}

type Tree = Record<string, unknown>;

export const ADMIN_TOKEN = 'test-admin-token-0123456789';

export interface TestGatewayOptions {
  /** Epoch-ms clock for the gateway (tokens, caches); the identity provider follows it too. */
  now?: () => number;
}

/** Starts the real gateway in-process on port 0 with a test config merged over minimal defaults. */
export async function startTestGateway(upstreamUrl: string, overrides: Tree = {}, options: TestGatewayOptions = {}): Promise<RunningGateway> {
  const dir = mkdtempSync(join(tmpdir(), 'btg-test-'));
  const jwksFile = join(dir, 'jwks.json');
  const idp = await createDemoIdentityProvider({ ...(options.now ? { now: options.now } : {}) });
  await idp.writeJwksFile(jwksFile);
  const base: Tree = {
    server: { host: '127.0.0.1', port: 0, shutdownTimeoutMs: 2_000 },
    admin: { host: '127.0.0.1', port: 0, token: ADMIN_TOKEN },
    upstream: { url: upstreamUrl, timeoutMs: 5_000 },
    callerAuth: { type: 'jwt', jwt: { jwksFile, issuer: idp.issuer, audience: idp.audience } },
    audit: { sinks: [{ type: 'file', path: join(dir, 'audit.jsonl') }], instance: 'test' },
  };
  const config = validateConfig(merge(base, overrides), 'test config', {});
  let text = '';
  const logs: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      text += chunk.toString();
      for (const line of chunk.toString().split('\n').filter(Boolean)) logs.push(JSON.parse(line) as Record<string, unknown>);
      callback();
    },
  });
  const gateway = await startGateway(config, {
    logger: createLogger('debug', destination),
    collectDefaultMetrics: false,
    ...(options.now ? { now: options.now } : {}),
  });
  return {
    gateway,
    idp,
    callerToken: (login = {}) => idp.mint({ sub: 'dr.who', team: 'team-a', user_type: 'CLINICIAN', ...login }),
    config,
    url: `http://127.0.0.1:${gateway.mainAddress.port}`,
    adminUrl: `http://127.0.0.1:${gateway.adminAddress.port}`,
    port: gateway.mainAddress.port,
    dir,
    logs,
    logText: () => text,
    stop: async () => {
      await gateway.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Deep merge where arrays and scalars in `over` replace those in `base`. */
export function merge(base: Tree, over: Tree): Tree {
  const out: Tree = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const prior = out[key];
    out[key] =
      isTree(prior) && isTree(value) ? merge(prior, value) : value;
  }
  return out;
}

function isTree(value: unknown): value is Tree {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
