import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import httpProxy from 'http-proxy';
import type { Logger } from '../logger.js';

/** What an audited upgrade wants to know about its socket. */
export interface UpgradeObserver {
  /** Every byte written to the client, handshake (or refusal) included, in order. */
  onSent(chunk: Uint8Array): void;
  /** Upstream could not be reached; the client got the gateway's 502. */
  onUpstreamFailed(): void;
}

/**
 * WebSocket upgrades go through http-proxy, which handles the handshake and splices the sockets;
 * ordinary HTTP goes through the undici Forwarder, which is cheaper per request. Header hygiene
 * happens on `req.headers` before this is called, because http-proxy copies them as they are.
 */
export class WebSocketProxy {
  private readonly proxy: httpProxy;
  private readonly sockets = new Map<Duplex, UpgradeObserver | undefined>();

  constructor(upstreamUrl: string, logger: Logger) {
    this.proxy = httpProxy.createProxyServer({ target: upstreamUrl, ws: true, xfwd: false, changeOrigin: true });
    this.proxy.on('error', (err, _req, target) => {
      const socket = target as Duplex;
      logger.warn({ err: err.message }, 'websocket upstream failed');
      this.sockets.get(socket)?.onUpstreamFailed();
      refuseUpgrade(socket, 502, 'Bad Gateway');
    });
  }

  forward(req: IncomingMessage, socket: Duplex, head: Buffer, observer?: UpgradeObserver): void {
    if (observer) tapWrites(socket, observer);
    this.sockets.set(socket, observer);
    socket.once('close', () => this.sockets.delete(socket));
    this.proxy.ws(req, socket, head);
  }

  /** WebSockets are long-lived: on shutdown they are closed, not waited for. */
  close(): void {
    for (const socket of this.sockets.keys()) socket.destroy();
    this.proxy.close();
  }
}

/**
 * http-proxy pipes upstream into the client socket with no per-request hook, so the tap wraps the
 * socket's own write.
 */
function tapWrites(socket: Duplex, observer: UpgradeObserver): void {
  const write = socket.write.bind(socket) as (chunk: unknown, ...rest: unknown[]) => boolean;
  socket.write = ((chunk: unknown, ...rest: unknown[]) => {
    observer.onSent(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Uint8Array));
    return write(chunk, ...rest);
  }) as Duplex['write'];
}

/** Answers an upgrade request on the raw socket, which is all there is before the handshake. */
export function refuseUpgrade(socket: Duplex, status: number, reason: string, body?: string): void {
  if (!socket.writable || socket.destroyed) {
    socket.destroy();
    return;
  }
  const payload = body ?? '';
  // write, then end: a tapped socket sees a refusal through write like any other byte it sends.
  socket.write(
    `HTTP/1.1 ${status} ${reason}\r\nconnection: close\r\ncontent-type: application/json; charset=utf-8\r\n` +
      `content-length: ${Buffer.byteLength(payload)}\r\n\r\n${payload}`,
  );
  socket.end();
}
