import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import httpProxy from 'http-proxy';
import type { Logger } from '../logger.js';

/**
 * WebSocket upgrades go through http-proxy, which handles the handshake and splices the sockets;
 * ordinary HTTP goes through the undici Forwarder, which is cheaper per request. Header hygiene
 * happens on `req.headers` before this is called, because http-proxy copies them as they are.
 */
export class WebSocketProxy {
  private readonly proxy: httpProxy;
  private readonly sockets = new Set<Duplex>();

  constructor(upstreamUrl: string, logger: Logger) {
    this.proxy = httpProxy.createProxyServer({ target: upstreamUrl, ws: true, xfwd: false, changeOrigin: true });
    this.proxy.on('error', (err, _req, socket) => {
      logger.warn({ err: err.message }, 'websocket upstream failed');
      refuseUpgrade(socket as Duplex, 502, 'Bad Gateway');
    });
  }

  /** `onSent` sees every byte written to the client (handshake included), for the audit digest. */
  forward(req: IncomingMessage, socket: Duplex, head: Buffer, onSent?: (chunk: Buffer) => void): void {
    if (onSent) tapWrites(socket, onSent);
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    this.proxy.ws(req, socket, head);
  }

  /** WebSockets are long-lived: on shutdown they are closed, not waited for. */
  close(): void {
    for (const socket of this.sockets) socket.destroy();
    this.proxy.close();
  }
}

/**
 * http-proxy pipes upstream into the client socket with no per-request hook, so the tap wraps the
 * socket's own write.
 */
function tapWrites(socket: Duplex, onSent: (chunk: Buffer) => void): void {
  const write = socket.write.bind(socket) as (chunk: unknown, ...rest: unknown[]) => boolean;
  socket.write = ((chunk: unknown, ...rest: unknown[]) => {
    onSent(typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk as Uint8Array));
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
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nconnection: close\r\ncontent-type: application/json; charset=utf-8\r\n` +
      `content-length: ${Buffer.byteLength(payload)}\r\n\r\n${payload}`,
  );
}
