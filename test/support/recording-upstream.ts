import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';

/** One request exactly as upstream received it. */
export interface ReceivedRequest {
  method: string;
  url: string;
  rawHeaders: string[];
  headers: IncomingMessage['headers'];
  body: Buffer;
  /** true when the gateway aborted the request before upstream finished answering. */
  aborted: boolean;
}

export type UpstreamBehaviour = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void;

/**
 * A real HTTP server that records everything it receives. Tests register behaviours by path
 * prefix; the default echoes the request as JSON. It also echoes WebSocket messages on `/ws`.
 */
export class RecordingUpstream {
  readonly received: ReceivedRequest[] = [];
  private readonly behaviours = new Map<string, UpstreamBehaviour>();
  private server!: Server;
  private wss!: WebSocketServer;
  url = '';
  port = 0;

  on(pathPrefix: string, behaviour: UpstreamBehaviour): this {
    this.behaviours.set(pathPrefix, behaviour);
    return this;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => this.handle(req, res));
    this.wss = new WebSocketServer({ noServer: true });
    this.server.on('upgrade', (req, socket, head) => {
      this.received.push({ method: req.method!, url: req.url!, rawHeaders: req.rawHeaders, headers: req.headers, body: Buffer.alloc(0), aborted: false });
      this.wss.handleUpgrade(req, socket, head, (ws) => {
        ws.on('message', (data, isBinary) => ws.send(isBinary ? data : `echo:${String(data)}`, { binary: isBinary }));
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    this.url = `http://127.0.0.1:${this.port}`;
    return this;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    const record: ReceivedRequest = { method: req.method!, url: req.url!, rawHeaders: req.rawHeaders, headers: req.headers, body: Buffer.alloc(0), aborted: false };
    this.received.push(record);
    res.on('close', () => {
      if (!res.writableFinished) record.aborted = true;
    });
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('error', () => {
      record.aborted = true;
    });
    req.on('end', () => {
      record.body = Buffer.concat(chunks);
      const path = req.url!.split('?')[0]!;
      const match = [...this.behaviours.entries()].filter(([prefix]) => path.startsWith(prefix)).sort((a, b) => b[0].length - a[0].length)[0];
      (match?.[1] ?? echo)(req, res, record.body);
    });
  }

  async stop(): Promise<void> {
    for (const client of this.wss.clients) client.terminate();
    this.wss.close();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

export const echo: UpstreamBehaviour = (req, res, body) => {
  const payload = JSON.stringify({
    method: req.method,
    url: req.url,
    headers: req.headers,
    bodySha256: createHash('sha256').update(body).digest('hex'),
    bodyBytes: body.length,
  });
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) });
  res.end(payload);
};
