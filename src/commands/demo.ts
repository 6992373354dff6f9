import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateConfig } from '../config/load.js';
import { startSampleUpstream } from '../demo/sample-upstream.js';
import { startGateway } from '../gateway.js';
import { createLogger } from '../logger.js';
import { EXIT_OK } from './exit-codes.js';
import { untilStopSignal } from './signals.js';

export interface DemoOptions {
  port: number;
  adminPort: number;
  upstreamPort: number;
  auditFile: string;
  logLevel: string;
  out: NodeJS.WritableStream;
}

/** The sample upstream plus a gateway in front of it on embedded defaults, and a guided tour. */
export async function demo(options: DemoOptions): Promise<number> {
  const workDir = mkdtempSync(join(tmpdir(), 'btg-demo-'));
  const jwksFile = join(workDir, 'demo-idp-jwks.json');
  writeFileSync(jwksFile, JSON.stringify({ keys: [] }));
  const upstream = await startSampleUpstream({ port: options.upstreamPort });
  const config = validateConfig(
    {
      server: { port: options.port },
      admin: { port: options.adminPort },
      upstream: { url: upstream.url },
      callerAuth: { type: 'jwt', jwt: { jwksFile } },
      audit: { sinks: [{ type: 'file', path: options.auditFile }] },
      logging: { level: options.logLevel },
    },
    'embedded demo config',
    {},
  );
  const logger = createLogger(config.logging.level);
  const gateway = await startGateway(config, { logger });
  const base = `http://127.0.0.1:${gateway.mainAddress.port}`;
  options.out.write(
    [
      '',
      `btg-gateway demo: gateway ${base} -> sample upstream ${upstream.url}`,
      `admin listener http://127.0.0.1:${gateway.adminAddress.port} (healthz, readyz, metrics)`,
      '',
      'Try an ordinary (non-BTG) call through the gateway:',
      `  curl -s ${base}/patients/pat-1001`,
      '',
      'Press Ctrl-C to stop.',
      '',
    ].join('\n'),
  );
  await untilStopSignal();
  await gateway.stop();
  await upstream.close();
  return EXIT_OK;
}
