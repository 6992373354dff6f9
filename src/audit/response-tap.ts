import { createHash, type Hash } from 'node:crypto';
import type { Transform } from 'node:stream';
import { constants, createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import { rawHeaderValues } from '../http/headers.js';
import type { ResponseObserver } from '../proxy/forwarder.js';
import type { AuditResponseInfo } from './record.js';

export type BodyMode = 'digest' | 'capture';

/**
 * Watches a response as the client receives it: SHA-256 and count of exactly the bytes handed to
 * the client's socket, never buffering more than `maxCaptureBytes` (and only in capture mode).
 */
export class ResponseTap implements ResponseObserver {
  private readonly hash: Hash = createHash('sha256');
  /** Set by the first summary(): the response is over by then. */
  private digest: string | undefined;
  private bytes = 0;
  private status: number | undefined;
  private contentType: string | undefined;
  private contentEncoding: string | undefined;
  private readonly captured: Uint8Array[] = [];
  private capturedBytes = 0;

  constructor(
    private readonly mode: BodyMode,
    private readonly maxCaptureBytes: number,
  ) {}

  onHeaders(status: number, headers: readonly string[]): void {
    this.status = status;
    this.contentType = rawHeaderValues(headers, 'content-type')[0];
    this.contentEncoding = rawHeaderValues(headers, 'content-encoding')[0]?.toLowerCase();
  }

  onSent(chunk: Uint8Array): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    if (this.mode === 'capture' && this.capturedBytes <= this.maxCaptureBytes) {
      this.captured.push(chunk);
      this.capturedBytes += chunk.length;
    }
  }

  /** Records a response the gateway produced itself (an error body), through the same accounting. */
  sentByGateway(status: number, contentType: string, payload: Buffer): void {
    this.onHeaders(status, ['content-type', contentType]);
    this.onSent(payload);
  }

  /** The `response` part of the audit record; `status` is 0 when no response started. */
  async summary(): Promise<AuditResponseInfo> {
    return {
      status: this.status ?? 0,
      bytes: this.bytes,
      sha256: (this.digest ??= this.hash.digest('hex')),
      ...(this.contentType ? { contentType: this.contentType } : {}),
      ...(this.mode === 'capture' ? await this.capture() : {}),
    };
  }

  private async capture(): Promise<{ body: string; truncated?: boolean }> {
    const raw = Buffer.concat(this.captured);
    const decoded = await decodePrefix(raw, this.contentEncoding, this.maxCaptureBytes);
    const truncated = this.bytes > raw.length || decoded.length > this.maxCaptureBytes || raw.length > this.maxCaptureBytes;
    const body = decoded.subarray(0, this.maxCaptureBytes).toString('utf8');
    return truncated ? { body, truncated: true } : { body };
  }
}

/**
 * Decodes the captured prefix as far as it goes, and no further than just past `max` bytes: a few
 * kilobytes of gzip can inflate to gigabytes, so the output is streamed and cut, never sized by
 * the input.
 */
async function decodePrefix(raw: Buffer, encoding: string | undefined, max: number): Promise<Buffer> {
  const decoder = decoderFor(encoding);
  if (!decoder) return raw;
  const out: Buffer[] = [];
  let size = 0;
  decoder.end(raw);
  try {
    for await (const chunk of decoder as AsyncIterable<Buffer>) {
      out.push(chunk);
      size += chunk.length;
      if (size > max) break;
    }
  } catch {
    // Not really compressed after all, or damaged: keep what decoded.
    if (out.length === 0) return raw;
  } finally {
    decoder.destroy();
  }
  return Buffer.concat(out);
}

function decoderFor(encoding: string | undefined): Transform | undefined {
  switch (encoding) {
    case 'gzip':
    case 'x-gzip':
      return createGunzip({ finishFlush: constants.Z_SYNC_FLUSH });
    case 'deflate':
      return createInflate({ finishFlush: constants.Z_SYNC_FLUSH });
    case 'br':
      return createBrotliDecompress({ finishFlush: constants.BROTLI_OPERATION_FLUSH });
    default:
      return undefined;
  }
}
