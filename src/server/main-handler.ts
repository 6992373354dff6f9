import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BlockList } from 'node:net';
import type { Duplex } from 'node:stream';
import { classifyRequest } from '../access/classify.js';
import type { BtgProxy } from '../access/btg-proxy.js';
import type { GrantEndpoint } from '../btg/grant-endpoint.js';
import { GatewayError, toErrorResponse } from '../errors.js';
import { sanitiseUpgradeHeaders, upstreamRequestHeaders } from '../http/headers.js';
import { sendError, sendJson } from '../http/respond.js';
import type { Logger } from '../logger.js';
import { hasRequestBody, type Forwarder } from '../proxy/forwarder.js';
import { refuseUpgrade, type WebSocketProxy } from '../proxy/websocket-proxy.js';
import type { Runtime } from '../runtime.js';
import { createRequestContext, forwardingHeaders, releaseBody, type RequestContext } from './request-context.js';

export interface MainHandlerDeps {
  forwarder: Forwarder;
  webSockets: WebSocketProxy;
  trustedProxies: BlockList | undefined;
  /** Lower-cased names never passed upstream from a client: the gateway's identity headers and the BTG header. */
  reservedHeaders: ReadonlySet<string>;
  logger: Logger;
  runtime: () => Runtime;
  grants: GrantEndpoint;
  btg: BtgProxy;
}

/** Entry point of the main listener: every request and upgrade comes through here. */
export class MainHandler {
  constructor(private readonly deps: MainHandlerDeps) {}

  readonly onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    void this.handle(req, res, false);
  };

  readonly onCheckContinue = (req: IncomingMessage, res: ServerResponse): void => {
    void this.handle(req, res, true);
  };

  readonly onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', () => socket.destroy());
    const ctx = createRequestContext(req, this.deps.trustedProxies, false);
    this.upgrade(req, socket, head, ctx).catch((err: unknown) => {
      const { status, body } = toErrorResponse(err, ctx.id);
      refuseUpgrade(socket, status, 'Refused', JSON.stringify(body));
    });
  };

  private async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, ctx: RequestContext): Promise<void> {
    requireOriginForm(req.url);
    const runtime = this.deps.runtime();
    const route = classifyRequest(req.method ?? 'GET', req.url!, req.rawHeaders, runtime.classify);
    if (route.kind === 'btg') return this.deps.btg.handleUpgrade(req, socket, head, ctx, route.values, runtime);
    sanitiseUpgradeHeaders(req.headers, req.rawHeaders, { drop: this.deps.reservedHeaders, add: forwardingHeaders(ctx) });
    this.deps.webSockets.forward(req, socket, head);
  }

  private async handle(req: IncomingMessage, res: ServerResponse, awaitingContinue: boolean): Promise<void> {
    const ctx = createRequestContext(req, this.deps.trustedProxies, awaitingContinue);
    res.setHeader('x-request-id', ctx.id);
    if (this.deps.logger.isLevelEnabled('info')) res.once('close', () => this.logRequest(req, res, ctx));
    try {
      requireOriginForm(req.url);
      await this.route(req, res, ctx);
    } catch (err) {
      this.fail(res, ctx, err);
    }
  }

  private async route(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): Promise<void> {
    const runtime = this.deps.runtime();
    const route = classifyRequest(req.method ?? 'GET', req.url!, req.rawHeaders, runtime.classify);
    switch (route.kind) {
      case 'grant':
        return this.deps.grants.handle(req, res, ctx);
      case 'jwks':
        return sendJson(res, 200, runtime.tokens.publicJwks(), { 'cache-control': 'public, max-age=300' });
      case 'btg':
        return this.deps.btg.handle(req, res, ctx, route.values, runtime);
      case 'passthrough':
        return this.passThrough(req, res, ctx);
    }
  }

  private async passThrough(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): Promise<void> {
    releaseBody(ctx, res);
    const result = await this.deps.forwarder.forward(res, {
      method: req.method ?? 'GET',
      target: req.url!,
      headers: upstreamRequestHeaders(req.rawHeaders, { drop: this.deps.reservedHeaders, add: forwardingHeaders(ctx) }),
      body: hasRequestBody(req) ? req : null,
    });
    // A client that went away has nobody left to answer; anything else is answered as an error.
    if (result.error && !result.clientAborted) throw result.error;
  }

  private fail(res: ServerResponse, ctx: RequestContext, err: unknown): void {
    const code = err instanceof GatewayError ? err.code : 'internal_error';
    ctx.log.outcome ??= code;
    if (!(err instanceof GatewayError) || err.status >= 500) {
      this.deps.logger.warn({ reqId: ctx.id, err: describe(err) }, 'request failed');
    }
    sendError(res, err, ctx.id);
  }

  private logRequest(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): void {
    const durationMs = Number(process.hrtime.bigint() - ctx.startedAt) / 1e6;
    this.deps.logger.info(
      {
        reqId: ctx.id,
        method: req.method,
        path: req.url?.split('?')[0],
        status: res.statusCode,
        complete: res.writableFinished,
        durationMs: Math.round(durationMs * 1000) / 1000,
        clientIp: ctx.client.ip,
        ...ctx.log,
      },
      'request',
    );
  }
}

/** Only `/path?query` targets are proxied; absolute-form and `*` would let a client pick the host. */
function requireOriginForm(target: string | undefined): void {
  if (!target || target[0] !== '/' || target[1] === '/') {
    throw new GatewayError(400, 'bad_request', 'The request target must be an absolute path');
  }
}

function describe(err: unknown): string {
  const cause = (err as { cause?: unknown }).cause;
  const base = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return cause instanceof Error ? `${base} (cause: ${cause.message})` : base;
}
