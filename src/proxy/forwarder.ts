import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Writable } from 'node:stream';
import { Pool } from 'undici';
import { GatewayError } from '../errors.js';
import { downstreamResponseHeaders } from '../http/headers.js';
import { statusClass, type GatewayMetrics } from '../metrics.js';

export interface UpstreamSettings {
  url: string;
  timeoutMs: number;
  connectTimeoutMs: number;
  connections: number;
}

/** Sees the response exactly as the client gets it; the audit trail hangs off this. */
export interface ResponseObserver {
  /** `headers` is the flat raw list as sent to the client. */
  onHeaders(status: number, headers: readonly string[]): void;
  /** Called once per chunk, in order, after the chunk was handed to the client's socket. */
  onSent(chunk: Buffer): void;
}

export interface ForwardRequest {
  method: string;
  /** The raw request target, forwarded byte for byte as it was validated. */
  target: string;
  headers: string[];
  /** The client request when it carries a body, else null. */
  body: IncomingMessage | null;
  observer?: ResponseObserver;
}

export interface ForwardResult {
  status: number | undefined;
  /** true when the whole upstream body reached the client's socket. */
  complete: boolean;
  /** true when the client went away first (and the upstream request was aborted for it). */
  clientAborted: boolean;
  error?: GatewayError | Error;
}

const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT']);

/** Maps what went wrong talking to upstream to what the client is told. */
export function upstreamFailure(err: unknown): GatewayError {
  const code = (err as { code?: string }).code ?? '';
  if (TIMEOUT_CODES.has(code)) {
    return new GatewayError(504, 'upstream_timeout', 'The upstream service did not answer in time', {}, { cause: err });
  }
  return new GatewayError(502, 'upstream_unavailable', 'The upstream service is unavailable', {}, { cause: err });
}

/** Does the client request carry a body that must be streamed upstream? */
export function hasRequestBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/**
 * Streams requests to upstream over a keep-alive undici Pool and the responses back. Bodies are
 * never buffered. A client that goes away aborts the upstream request; an upstream that dies
 * mid-body destroys the client connection, so a truncated body never looks complete.
 */
export class Forwarder {
  private readonly pool: Pool;
  private readonly basePath: string;
  /** Labelled histogram children by "METHOD class": at most 8 × 6, and spares a label hash per request. */
  private readonly durationSeries = new Map<string, { observe(value: number): void }>();

  constructor(
    private readonly settings: UpstreamSettings,
    private readonly metrics: GatewayMetrics,
  ) {
    const url = new URL(settings.url);
    this.basePath = url.pathname.replace(/\/+$/, '');
    this.pool = new Pool(url.origin, {
      connections: settings.connections,
      pipelining: 1,
      keepAliveTimeout: 4_000,
      keepAliveMaxTimeout: 60_000,
      connect: { timeout: settings.connectTimeoutMs },
    });
  }

  async forward(res: ServerResponse, request: ForwardRequest): Promise<ForwardResult> {
    // undici takes an EventEmitter as a signal; an AbortController per request costs noticeably more.
    const abort = new EventEmitter();
    let clientAborted = false;
    const onClose = (): void => {
      if (res.writableFinished) return;
      clientAborted = true;
      abort.emit('abort');
    };
    res.once('close', onClose);
    const started = process.hrtime.bigint();
    let status: number | undefined;
    let sink: ResponseSink | undefined;
    try {
      await this.pool.stream(
        {
          path: this.basePath + request.target,
          method: request.method as 'GET',
          headers: request.headers,
          body: request.body,
          signal: abort,
          headersTimeout: this.settings.timeoutMs,
          bodyTimeout: this.settings.timeoutMs,
          responseHeaders: 'raw',
        },
        ({ statusCode, headers }) => {
          status = statusCode;
          this.observeDuration(request.method, statusCode, started);
          const filtered = downstreamResponseHeaders(headers as unknown as string[]);
          request.observer?.onHeaders(statusCode, filtered);
          // appendHeader, not writeHead(status, list): with headers already set (X-Request-Id) Node
          // merges a list through setHeader, which would keep only the last of repeated headers.
          for (let i = 0; i < filtered.length; i += 2) res.appendHeader(filtered[i]!, filtered[i + 1]!);
          res.writeHead(statusCode);
          if (!request.observer) return res;
          sink = new ResponseSink(res, request.observer);
          return sink;
        },
      );
      return { status, complete: true, clientAborted: false };
    } catch (err) {
      if (status === undefined) this.observeDuration(request.method, undefined, started);
      return this.failed(res, status, err, sink, clientAborted);
    } finally {
      res.off('close', onClose);
    }
  }

  private failed(res: ServerResponse, status: number | undefined, err: unknown, sink: ResponseSink | undefined, clientAborted: boolean): ForwardResult {
    sink?.destroy();
    if (clientAborted || res.headersSent || res.destroyed) {
      res.destroy();
      return { status, complete: false, clientAborted, error: err as Error };
    }
    return { status, complete: false, clientAborted, error: upstreamFailure(err) };
  }

  private observeDuration(method: string, status: number | undefined, started: bigint): void {
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const labels = `${knownMethod(method)} ${statusClass(status)}`;
    let series = this.durationSeries.get(labels);
    if (!series) {
      series = this.metrics.upstreamDuration.labels({ method: knownMethod(method), status_class: statusClass(status) });
      this.durationSeries.set(labels, series);
    }
    series.observe(seconds);
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/** Method label values are bounded: anything unusual becomes `OTHER`. */
function knownMethod(method: string): string {
  return METHODS.has(method) ? method : 'OTHER';
}

/**
 * The writable undici streams an observed upstream body into (unobserved ones go straight into the
 * response). It passes chunks on with backpressure and reports each chunk to the observer once the
 * client's socket took it.
 */
class ResponseSink extends Writable {
  constructor(
    private readonly res: ServerResponse,
    private readonly observer: ResponseObserver,
  ) {
    super();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const accepted = this.res.write(chunk, (err) => err || this.observer.onSent(chunk));
    if (accepted) callback();
    else this.res.once('drain', () => callback());
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.res.end(() => callback());
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (error && !this.res.writableFinished) this.res.destroy();
    callback(error);
  }
}
