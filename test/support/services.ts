import { Socket } from 'node:net';
import { describe, it } from 'vitest';

/** Whether a service the tests need answers, and what to call it when it does not. */
export interface ServiceCheck {
  service: string;
  available: boolean;
}

const PROBE_TIMEOUT_MS = 1000;

/** Redis answers PING: a bare TCP connect would also accept some other program on the port. */
export async function redisAvailable(host = '127.0.0.1', port = 6379): Promise<ServiceCheck> {
  const reply = await probe(host, port, 'PING\r\n');
  return { service: `Redis at ${host}:${port}`, available: reply?.startsWith('+PONG') ?? false };
}

/** A TCP connect is enough here: speaking the PostgreSQL protocol would need the pg package. */
export async function postgresAvailable(host = '127.0.0.1', port = 5432): Promise<ServiceCheck> {
  const reply = await probe(host, port);
  return { service: `PostgreSQL at ${host}:${port}`, available: reply !== undefined };
}

/**
 * `describe` for tests against a real service. When the service is unreachable they fail under CI
 * (a green run must not hide that nothing was tested) and are skipped loudly elsewhere.
 */
export function describeWithService(name: string, check: ServiceCheck, fn: () => void): void {
  if (check.available) {
    describe(name, fn);
  } else if (process.env.CI) {
    describe(name, () => {
      it(`needs ${check.service}`, () => {
        throw new Error(`${check.service} is unreachable; CI must provide it (see .ci/run)`);
      });
    });
  } else {
    console.warn(`\n!!! ${check.service} is unreachable: SKIPPED "${name}". Start it, or set CI=1 to make this a failure. !!!\n`);
    describe.skip(name, fn);
  }
}

/**
 * Connects, optionally sends `request`, and resolves with what came back first ('' when nothing was
 * sent), or undefined when the connection failed or stayed silent past the timeout.
 */
function probe(host: string, port: number, request?: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = new Socket();
    const finish = (reply: string | undefined): void => {
      socket.destroy();
      resolve(reply);
    };
    socket.setTimeout(PROBE_TIMEOUT_MS, () => finish(undefined));
    socket.once('error', () => finish(undefined));
    socket.once('data', (data) => finish(data.toString('latin1')));
    socket.connect(port, host, () => {
      if (request === undefined) finish('');
      else socket.write(request);
    });
  });
}
