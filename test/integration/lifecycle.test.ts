import { afterEach, describe, expect, it } from 'vitest';
import { startTestGateway } from '../support/gateway-harness.js';
import { send } from '../support/http-client.js';
import { RecordingUpstream } from '../support/recording-upstream.js';

const tcpHandles = (): string[] => process.getActiveResourcesInfo().filter((name) => name.startsWith('TCP'));

describe('graceful shutdown', () => {
  let cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const fn of cleanup.reverse()) await fn();
    cleanup = [];
  });

  it('lets an in-flight request finish, refuses new connections, and leaves no sockets behind', async () => {
    const baseline = tcpHandles().length;
    let release: () => void = () => undefined;
    const upstream = await new RecordingUpstream()
      .on('/slow', (_req, res) => {
        release = () => res.end('finished');
      })
      .start();
    const gw = await startTestGateway(upstream.url);
    const inFlight = send(`${gw.url}/slow`);
    await expect.poll(() => upstream.received.length).toBe(1);
    const stopped = gw.stop();
    await expect(send(`${gw.url}/other`)).rejects.toThrow(/ECONNREFUSED/);
    release();
    const res = await inFlight;
    expect(res.status).toBe(200);
    expect(res.text).toBe('finished');
    await stopped;
    await upstream.stop();
    await expect.poll(() => tcpHandles().length).toBe(baseline);
  });

  it('cuts requests still running at server.shutdownTimeoutMs', async () => {
    const upstream = await new RecordingUpstream().on('/never', () => undefined).start();
    cleanup.push(() => upstream.stop());
    const gw = await startTestGateway(upstream.url, { server: { shutdownTimeoutMs: 200 }, upstream: { timeoutMs: 60_000 } });
    const outcome = send(`${gw.url}/never`).then(
      () => 'completed',
      (err: Error) => err.message,
    );
    await expect.poll(() => upstream.received.length).toBe(1);
    await gw.stop();
    expect(await outcome).toMatch(/socket hang up|ECONNRESET/);
  });
});
