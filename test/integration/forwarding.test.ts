import { createHash, randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type RunningGateway } from '../support/gateway-harness.js';
import { send, sendRaw } from '../support/http-client.js';
import { RecordingUpstream } from '../support/recording-upstream.js';
import { exchangeOnce } from '../support/websocket-client.js';

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

let upstream: RecordingUpstream;
let gw: RunningGateway;
const bigBody = randomBytes(5 * 1024 * 1024);
let held: Array<() => void> = [];

beforeAll(async () => {
  upstream = await new RecordingUpstream()
    .on('/big', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bigBody.length });
      res.end(bigBody);
    })
    .on('/chunked', (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      for (let i = 0; i < 50; i++) res.write(`chunk ${i}\n`);
      res.end();
    })
    .on('/hop', (_req, res) => {
      res.writeHead(200, { connection: 'x-upstream-private', 'x-upstream-private': 'secret', 'keep-alive': 'timeout=5', 'x-kept': 'yes', 'set-cookie': ['a=1', 'b=2'] });
      res.end('ok');
    })
    .on('/hang', (_req, res) => {
      held.push(() => res.end());
    })
    .on('/die-mid-body', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100000' });
      res.write('{"partial":');
      setImmediate(() => res.socket?.destroy());
    })
    .on('/die-mid-chunked', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"partial":');
      setImmediate(() => res.socket?.destroy());
    })
    .start();
  gw = await startTestGateway(upstream.url, { upstream: { timeoutMs: 400 } });
});

afterAll(async () => {
  for (const release of held) release();
  await gw.stop();
  await upstream.stop();
});

describe('pass-through forwarding', () => {
  it('forwards method, path and query unchanged and sets forwarding headers', async () => {
    const res = await send(`${gw.url}/patients/p1/records?x=1&y=%2F`, { headers: { 'x-request-id': 'trace-42', 'user-agent': 'vitest' } });
    expect(res.status).toBe(200);
    expect(res.headers['x-request-id']).toBe('trace-42');
    const seen = upstream.received.at(-1)!;
    expect(seen.url).toBe('/patients/p1/records?x=1&y=%2F');
    expect(seen.headers['x-request-id']).toBe('trace-42');
    expect(seen.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen.headers['x-forwarded-proto']).toBe('http');
    expect(seen.headers['x-forwarded-host']).toBe(`127.0.0.1:${gw.port}`);
    expect(seen.headers.host).toBe(`127.0.0.1:${upstream.port}`);
    expect(seen.headers['user-agent']).toBe('vitest');
  });

  it('replaces an unsafe client request id and untrusted X-Forwarded-* values', async () => {
    const res = await send(`${gw.url}/a`, { headers: { 'x-request-id': 'bad id with spaces', 'x-forwarded-for': '10.9.9.9', 'x-forwarded-host': 'evil.example' } });
    expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    const seen = upstream.received.at(-1)!;
    expect(seen.headers['x-request-id']).toBe(res.headers['x-request-id']);
    expect(seen.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen.headers['x-forwarded-host']).toBe(`127.0.0.1:${gw.port}`);
  });

  it('removes hop-by-hop headers and headers named in Connection, in both directions', async () => {
    const res = await sendRaw(
      gw.port,
      'GET /hop HTTP/1.1\r\nHost: gw\r\nConnection: close, x-client-private\r\nX-Client-Private: 1\r\nTE: trailers\r\n' +
        'Keep-Alive: timeout=9\r\nProxy-Authorization: Basic eA==\r\nX-Ordinary: kept\r\n\r\n',
    );
    const seen = upstream.received.at(-1)!;
    expect(seen.headers['x-client-private']).toBeUndefined();
    expect(seen.headers.te).toBeUndefined();
    expect(seen.headers['keep-alive']).toBeUndefined();
    expect(seen.headers['proxy-authorization']).toBeUndefined();
    expect(seen.headers['x-ordinary']).toBe('kept');
    expect(res).toMatch(/^HTTP\/1\.1 200/);
    expect(res.toLowerCase()).not.toContain('x-upstream-private');
    expect(res.toLowerCase()).not.toContain('keep-alive: timeout=5');
    expect(res).toContain('x-kept: yes');
    expect(res).toMatch(/set-cookie: a=1\r\nset-cookie: b=2/i);
  });

  it('strips client copies of the gateway identity headers from ordinary requests', async () => {
    await send(`${gw.url}/patients/p1`, { headers: { 'X-BTG-Team-Id': 'forged', 'x-btg-patient-id': 'p1', 'X-Other': 'kept' } });
    const seen = upstream.received.at(-1)!;
    expect(seen.headers['x-btg-team-id']).toBeUndefined();
    expect(seen.headers['x-btg-patient-id']).toBeUndefined();
    expect(seen.headers['x-other']).toBe('kept');
  });

  it('streams a 5 MB request body and a 5 MB response body byte for byte', async () => {
    const res = await send(`${gw.url}/upload`, { method: 'POST', body: bigBody, headers: { 'content-type': 'application/octet-stream' } });
    expect(res.json().bodySha256).toBe(sha256(bigBody));
    const down = await send(`${gw.url}/big`);
    expect(down.body.length).toBe(bigBody.length);
    expect(sha256(down.body)).toBe(sha256(bigBody));
  });

  it('forwards chunked request and response bodies intact', async () => {
    const parts = [randomBytes(1000), randomBytes(70_000), randomBytes(5)];
    const echoed = await new Promise<Record<string, unknown>>((resolve, reject) => {
      const req = httpRequest(`${gw.url}/upload-chunked`, { method: 'PUT', agent: false }, (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve(JSON.parse(text) as Record<string, unknown>));
      });
      req.on('error', reject);
      for (const part of parts) req.write(part);
      req.end();
    });
    expect(upstream.received.at(-1)!.headers['transfer-encoding']).toBe('chunked');
    expect(echoed.bodySha256).toBe(sha256(Buffer.concat(parts)));
    const res = await send(`${gw.url}/chunked`);
    expect(res.text).toBe(Array.from({ length: 50 }, (_, i) => `chunk ${i}\n`).join(''));
  });

  it('answers Expect: 100-continue itself and forwards the body without the Expect header', async () => {
    const body = Buffer.from('{"note":"hello"}');
    const echoed = await new Promise<Record<string, unknown>>((resolve, reject) => {
      const req = httpRequest(`${gw.url}/continue`, { method: 'POST', agent: false, headers: { expect: '100-continue', 'content-length': body.length } }, (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve(JSON.parse(text) as Record<string, unknown>));
      });
      req.on('continue', () => req.end(body));
      req.on('error', reject);
    });
    expect(echoed.bodySha256).toBe(sha256(body));
    expect(upstream.received.at(-1)!.headers.expect).toBeUndefined();
  });

  it('refuses absolute-form and asterisk targets with a JSON 400', async () => {
    for (const target of ['http://evil.example/x', '*', '//double']) {
      const raw = await sendRaw(gw.port, `GET ${target} HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n`);
      expect(raw).toMatch(/^HTTP\/1\.1 400/);
      expect(raw).toContain('"error":"bad_request"');
    }
  });
});

describe('upstream failures', () => {
  it('answers 502 JSON when upstream refuses connections', async () => {
    const closedPort = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const { port } = probe.address() as { port: number };
        probe.close(() => resolve(port));
      });
    });
    const down = await startTestGateway(`http://127.0.0.1:${closedPort}`);
    try {
      const res = await send(`${down.url}/patients/p1`);
      expect(res.status).toBe(502);
      const body = res.json();
      expect(body).toEqual({ error: 'upstream_unavailable', message: expect.any(String), requestId: res.headers['x-request-id'] });
      expect(res.text).not.toContain('ECONNREFUSED');
    } finally {
      await down.stop();
    }
  });

  it('answers 504 when upstream sends no headers within timeoutMs', async () => {
    const res = await send(`${gw.url}/hang`);
    expect(res.status).toBe(504);
    expect(res.json().error).toBe('upstream_timeout');
  });

  it('destroys the client connection when upstream dies mid-body, never ending cleanly', async () => {
    await expect(send(`${gw.url}/die-mid-body`)).rejects.toThrow(/aborted|socket hang up|ECONNRESET/);
    await expect(send(`${gw.url}/die-mid-chunked`)).rejects.toThrow(/aborted|socket hang up|ECONNRESET/);
  });

  it('aborts the upstream request when the client goes away', async () => {
    const before = upstream.received.length;
    const arrived = new Promise<void>((resolve) => {
      const check = setInterval(() => {
        if (upstream.received.length > before) {
          clearInterval(check);
          resolve();
        }
      }, 5);
    });
    const req = httpRequest(`${gw.url}/hang`, { agent: false });
    req.on('error', () => undefined);
    req.end();
    await arrived;
    const record = upstream.received.at(-1)!;
    req.destroy();
    await expect.poll(() => record.aborted, { timeout: 2_000 }).toBe(true);
  });
});

describe('websocket upgrades', () => {
  it('carries a WebSocket conversation through http-proxy', async () => {
    const reply = await exchangeOnce(`ws://127.0.0.1:${gw.port}/ws`, { 'x-btg-user-id': 'forged' }, 'ping');
    expect(reply).toBe('echo:ping');
    const seen = upstream.received.at(-1)!;
    expect(seen.url).toBe('/ws');
    expect(seen.headers['x-btg-user-id']).toBeUndefined();
    expect(seen.headers['x-forwarded-for']).toBe('127.0.0.1');
  });
});
