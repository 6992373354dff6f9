import { createHash } from 'node:crypto';
import { connect } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditRecord } from '../../src/audit/record.js';
import { recordsFor } from '../support/audit-file.js';
import { startTestGateway, type RunningGateway } from '../support/gateway-harness.js';
import { send, type ClientResponse } from '../support/http-client.js';
import { RecordingUpstream } from '../support/recording-upstream.js';

/**
 * SPEC 6: `response.sha256` is the SHA-256 of exactly the body bytes sent to the client, and
 * `response.bytes` their count. Each case compares the record with what a real client received.
 */

const PLAIN = 'plain record body\n'.repeat(20);
const CHUNKS = ['first chunk;', 'second chunk;', 'third chunk;', 'last chunk'];
const GZIP_TEXT = JSON.stringify({ patient: 'p1', notes: 'compressible '.repeat(40) });
const GZIPPED = gzipSync(GZIP_TEXT);
const LARGE = 'x'.repeat(5_000);
const CAPTURE_CAP = 1_000;
/** Upstream promises this much but dies after sending DIES_AFTER bytes. */
const DIES_LENGTH = 30_000;
const DIES_AFTER = 10_000;
const SLOW_CHUNK = Buffer.alloc(16 * 1024, 's');

/** One gateway and a BTG grant on it. */
interface Site {
  gw: RunningGateway;
  caller: string;
  token: string;
}

let upstream: RecordingUpstream;
let digest: Site;
let capture: Site;

async function startSite(overrides: Record<string, unknown>): Promise<Site> {
  const gw = await startTestGateway(upstream.url, overrides);
  const caller = await gw.callerToken();
  const res = await send(`${gw.url}/btg`, {
    method: 'POST',
    headers: { authorization: `Bearer ${caller}`, 'content-type': 'application/json' },
    body: JSON.stringify({ userId: 'dr.jones', pkbId: 'p1' }),
  });
  expect(res.status).toBe(200);
  return { gw, caller, token: res.json<{ token: string }>().token };
}

beforeAll(async () => {
  upstream = await new RecordingUpstream()
    .on('/patients/p1/plain', (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(PLAIN) }).end(PLAIN);
    })
    .on('/patients/p1/chunked', (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      for (const chunk of CHUNKS.slice(0, -1)) res.write(chunk);
      res.end(CHUNKS.at(-1));
    })
    .on('/patients/p1/gzip', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': GZIPPED.length }).end(GZIPPED);
    })
    .on('/patients/p1/large', (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': LARGE.length }).end(LARGE);
    })
    .on('/patients/p1/dies', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': DIES_LENGTH });
      res.write(Buffer.alloc(DIES_AFTER, 'd'), () => res.socket?.destroy());
    })
    .on('/patients/p1/hangup', (req) => req.socket.destroy())
    .on('/patients/p1/slow', (_req, res) => {
      // Far more than any socket buffer, a chunk at a time, until the gateway hangs up.
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': SLOW_CHUNK.length * 10_000 });
      const timer = setInterval(() => res.write(SLOW_CHUNK), 5);
      res.on('close', () => clearInterval(timer));
    })
    .start();
  digest = await startSite({});
  capture = await startSite({ audit: { body: 'capture', maxCaptureBytes: CAPTURE_CAP } });
});

afterAll(async () => {
  await digest.gw.stop();
  await capture.gw.stop();
  await upstream.stop();
});

const sha256 = (bytes: Buffer | string): string => createHash('sha256').update(bytes).digest('hex');

function btgHeaders(site: Site, requestId: string): Record<string, string> {
  return { authorization: `Bearer ${site.caller}`, breaktheglass: site.token, 'x-request-id': requestId };
}

function btgSend(site: Site, path: string, requestId: string, method = 'GET'): Promise<ClientResponse> {
  return send(`${site.gw.url}${path}`, { method, headers: btgHeaders(site, requestId) });
}

/** The `response` record is written after the body went out; wait for it. */
async function responseRecord(site: Site, requestId: string): Promise<AuditRecord> {
  await expect.poll(() => recordsFor(site.gw.dir, requestId).map((r) => r.event)).toEqual(['access', 'response']);
  return recordsFor(site.gw.dir, requestId)[1]!;
}

/** What one raw HTTP/1.1 exchange delivered to the client, up to the point the connection ended. */
interface RawExchange {
  head: string;
  body: Buffer;
}

/**
 * Sends a GET on a raw socket and collects every byte until the connection ends, however it ends
 * (a reset is an ending, not an error): a truncated body is exactly what the client received.
 * With `hangUpAfterBodyBytes` the client itself goes away once that much body arrived.
 */
function rawGet(site: Site, path: string, requestId: string, hangUpAfterBodyBytes?: number): Promise<RawExchange> {
  // Keep-alive (the HTTP/1.1 default): the connection ends only if the gateway or the client ends it.
  const headers = Object.entries({ ...btgHeaders(site, requestId), host: 'gw' }).map(([k, v]) => `${k}: ${v}\r\n`);
  return new Promise((resolve) => {
    const socket = connect(site.gw.port, '127.0.0.1');
    let received = Buffer.alloc(0);
    const split = (): RawExchange => {
      const end = received.indexOf('\r\n\r\n');
      return end < 0 ? { head: received.toString('latin1'), body: Buffer.alloc(0) } : { head: received.subarray(0, end).toString('latin1'), body: received.subarray(end + 4) };
    };
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (hangUpAfterBodyBytes !== undefined && split().body.length >= hangUpAfterBodyBytes) socket.destroy();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(split()));
    socket.write(`GET ${path} HTTP/1.1\r\n${headers.join('')}\r\n`);
  });
}

describe('response digests match the bytes the client received', () => {
  it('a content-length body', async () => {
    const res = await btgSend(digest, '/patients/p1/plain', 'digest-plain');
    expect(res.headers['content-length']).toBe(String(Buffer.byteLength(PLAIN)));
    expect(res.text).toBe(PLAIN);
    const record = await responseRecord(digest, 'digest-plain');
    expect(record).toMatchObject({ outcome: 'success', response: { status: 200, bytes: res.body.length, sha256: sha256(res.body), contentType: 'text/plain' } });
    expect(record.response).not.toHaveProperty('body');
  });

  it('a chunked body written in several pieces', async () => {
    const res = await btgSend(digest, '/patients/p1/chunked', 'digest-chunked');
    expect(res.headers['transfer-encoding']).toBe('chunked');
    expect(res.text).toBe(CHUNKS.join(''));
    expect((await responseRecord(digest, 'digest-chunked')).response).toMatchObject({ status: 200, bytes: res.body.length, sha256: sha256(res.body) });
  });

  it('a gzip body is passed on compressed and hashed as sent; capture stores the decoded text', async () => {
    for (const [site, id] of [[digest, 'digest-gzip'], [capture, 'capture-gzip']] as const) {
      const res = await btgSend(site, '/patients/p1/gzip', id);
      expect(res.headers['content-encoding']).toBe('gzip');
      expect(res.body.equals(GZIPPED)).toBe(true);
      expect((await responseRecord(site, id)).response).toMatchObject({ status: 200, bytes: GZIPPED.length, sha256: sha256(GZIPPED) });
    }
    const captured = (await responseRecord(capture, 'capture-gzip')).response!;
    expect(captured.body).toBe(GZIP_TEXT);
    expect(captured).not.toHaveProperty('truncated');
  });

  it('a HEAD request: no body bytes, the digest of nothing', async () => {
    const res = await btgSend(digest, '/patients/p1/plain', 'digest-head', 'HEAD');
    expect(res.status).toBe(200);
    expect(res.body.length).toBe(0);
    expect((await responseRecord(digest, 'digest-head')).response).toMatchObject({ status: 200, bytes: 0, sha256: sha256('') });
  });

  it('capture keeps at most maxCaptureBytes and says it truncated', async () => {
    const res = await btgSend(capture, '/patients/p1/large', 'capture-large');
    expect(res.text).toBe(LARGE);
    expect((await responseRecord(capture, 'capture-large')).response).toEqual({
      status: 200,
      bytes: LARGE.length,
      sha256: sha256(LARGE),
      contentType: 'text/plain',
      body: LARGE.slice(0, CAPTURE_CAP),
      truncated: true,
    });
  });
});

describe('failed responses record the bytes the client actually got', () => {
  it('upstream hangs up before answering: the digest is of the 502 error the gateway sent', async () => {
    const res = await btgSend(digest, '/patients/p1/hangup', 'digest-hangup');
    expect(res.status).toBe(502);
    expect(res.json()).toMatchObject({ error: 'upstream_unavailable' });
    const record = await responseRecord(digest, 'digest-hangup');
    expect(record).toMatchObject({
      outcome: 'failure',
      code: 'upstream_unavailable',
      response: { status: 502, bytes: res.body.length, sha256: sha256(res.body), contentType: res.headers['content-type'] },
    });
  });

  it('upstream dies mid-body: the client connection is cut and the record says upstream_aborted', async () => {
    const { head, body } = await rawGet(digest, '/patients/p1/dies', 'digest-dies');
    expect(head).toMatch(/^HTTP\/1\.1 200 /);
    expect(head).toContain(`content-length: ${DIES_LENGTH}`);
    expect(body.length).toBeLessThan(DIES_LENGTH);
    const record = await responseRecord(digest, 'digest-dies');
    expect(record).toMatchObject({ outcome: 'failure', code: 'upstream_aborted', response: { status: 200, bytes: body.length, sha256: sha256(body) } });
  });

  it('the client hangs up mid-body: the record says client_aborted and upstream is told to stop', async () => {
    const { head, body } = await rawGet(digest, '/patients/p1/slow', 'digest-client-gone', SLOW_CHUNK.length);
    expect(head).toMatch(/^HTTP\/1\.1 200 /);
    const record = await responseRecord(digest, 'digest-client-gone');
    expect(record).toMatchObject({ outcome: 'failure', code: 'client_aborted', response: { status: 200 } });
    // The gateway may have handed the socket more than the client read before it hung up, never less.
    expect(record.response!.bytes).toBeGreaterThanOrEqual(body.length);
    expect(record.response!.bytes).toBeLessThan(SLOW_CHUNK.length * 10_000);
    await expect.poll(() => upstream.received.find((r) => r.headers['x-request-id'] === 'digest-client-gone')?.aborted).toBe(true);
  });
});
