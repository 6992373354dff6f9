import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BlockList } from 'node:net';
import { GatewayError } from '../errors.js';
import { sendError, sendJson } from '../http/respond.js';
import type { Logger } from '../logger.js';
import type { GatewayMetrics } from '../metrics.js';
import type { AuditApi } from './audit-api.js';
import { createRequestContext, type RequestContext } from './request-context.js';

/** One thing /readyz depends on: resolves when usable, rejects saying why not. */
export interface ReadinessCheck {
  name: string;
  check(): Promise<void>;
}

export interface AdminHandlerDeps {
  metrics: GatewayMetrics;
  readiness: () => readonly ReadinessCheck[];
  auditApi: AuditApi;
  trustedProxies: BlockList | undefined;
  logger: Logger;
}

/** The admin listener: health, readiness and metrics for operators, kept off the main port. */
export class AdminHandler {
  constructor(private readonly deps: AdminHandlerDeps) {}

  readonly onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const ctx = createRequestContext(req, this.deps.trustedProxies, false);
    res.setHeader('x-request-id', ctx.id);
    this.route(req, res, ctx).catch((err: unknown) => {
      this.deps.logger.warn({ reqId: ctx.id, path: req.url?.split('?')[0], err: (err as Error).message }, 'admin request refused');
      sendError(res, err, ctx.id);
    });
  };

  private async route(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      throw new GatewayError(405, 'method_not_allowed', 'The admin listener only answers GET', { allow: 'GET, HEAD' });
    }
    switch (path) {
      case '/healthz':
        return sendJson(res, 200, { status: 'ok' });
      case '/readyz':
        return this.readiness(res);
      case '/metrics':
        return this.metrics(res);
      case '/audit':
        return this.deps.auditApi.history(req, res, ctx);
      case '/grants':
        return this.deps.auditApi.grants(req, res, ctx);
      default:
        throw new GatewayError(404, 'not_found', 'No such admin endpoint');
    }
  }

  private async readiness(res: ServerResponse): Promise<void> {
    const results = await Promise.all(
      this.deps.readiness().map(async ({ name, check }) => {
        try {
          await check();
          return { name, ok: true as const };
        } catch (err) {
          return { name, ok: false as const, message: (err as Error).message };
        }
      }),
    );
    const failing = results.filter((r) => !r.ok);
    sendJson(res, failing.length === 0 ? 200 : 503, {
      status: failing.length === 0 ? 'ready' : 'not_ready',
      checks: Object.fromEntries(results.map((r) => [r.name, r.ok ? 'ok' : r.message])),
    });
  }

  private async metrics(res: ServerResponse): Promise<void> {
    const body = await this.deps.metrics.registry.metrics();
    res.writeHead(200, { 'content-type': this.deps.metrics.registry.contentType });
    res.end(body);
  }
}
