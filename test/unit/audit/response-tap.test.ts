import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { ResponseTap } from '../../../src/audit/response-tap.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('ResponseTap', async () => {
  it('hashes and counts exactly the chunks reported as sent', async () => {
    const tap = new ResponseTap('digest', 0);
    tap.onHeaders(200, ['Content-Type', 'application/json']);
    const parts = [Buffer.from('{"a":'), Buffer.from('1}')];
    for (const part of parts) tap.onSent(part);
    expect(await tap.summary()).toEqual({ status: 200, bytes: 7, sha256: sha(Buffer.concat(parts)), contentType: 'application/json' });
  });

  it('reports status 0 and the empty digest when nothing was sent', async () => {
    expect(await new ResponseTap('digest', 0).summary()).toEqual({ status: 0, bytes: 0, sha256: sha(Buffer.alloc(0)) });
  });

  it('captures decoded text of a gzip body, hashing the compressed bytes as sent', async () => {
    const text = JSON.stringify({ note: 'x'.repeat(100) });
    const gz = gzipSync(text);
    const tap = new ResponseTap('capture', 1000);
    tap.onHeaders(200, ['content-type', 'application/json', 'Content-Encoding', 'gzip']);
    tap.onSent(gz);
    expect(await tap.summary()).toMatchObject({ bytes: gz.length, sha256: sha(gz), body: text });
    expect((await tap.summary()).truncated).toBeUndefined();
  });

  it('cuts a captured body at maxCaptureBytes and says so', async () => {
    const tap = new ResponseTap('capture', 4);
    tap.onHeaders(200, []);
    tap.onSent(Buffer.from('abcdefgh'));
    tap.onSent(Buffer.from('ijkl'));
    expect(await tap.summary()).toMatchObject({ bytes: 12, body: 'abcd', truncated: true });
  });
});

it('stops inflating a compression bomb just past maxCaptureBytes', async () => {
  const { gzipSync } = await import('node:zlib');
  const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024));
  const tap = new ResponseTap('capture', 1000);
  tap.onHeaders(200, ['content-encoding', 'gzip']);
  tap.onSent(bomb);
  const summary = await tap.summary();
  expect(summary.body).toHaveLength(1000);
  expect(summary.truncated).toBe(true);
});
