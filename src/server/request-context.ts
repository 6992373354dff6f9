import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BlockList } from 'node:net';
import { clientAddress, type ClientAddress } from '../http/client-address.js';
import { requestIdFor } from '../http/request-id.js';

/** What the gateway knows about one request, for forwarding, logging and the audit trail. */
export interface RequestContext {
  id: string;
  client: ClientAddress;
  startedAt: bigint;
  /** Set by handlers for the request log: the outcome code and who was involved. */
  log: { outcome?: string; teamId?: string; tokenId?: string };
  /** The client sent `Expect: 100-continue` and is waiting for our go-ahead before the body. */
  awaitingContinue: boolean;
}

export function createRequestContext(
  req: IncomingMessage,
  trustedProxies: BlockList | undefined,
  awaitingContinue: boolean,
): RequestContext {
  return {
    id: requestIdFor(req.headers['x-request-id']),
    client: clientAddress(req, trustedProxies),
    startedAt: process.hrtime.bigint(),
    log: {},
    awaitingContinue,
  };
}

/** Sends `100 Continue` once, right before the body is first needed, and only if it was asked for. */
export function releaseBody(ctx: RequestContext, res: ServerResponse): void {
  if (!ctx.awaitingContinue) return;
  ctx.awaitingContinue = false;
  res.writeContinue();
}

/** X-Forwarded-* and X-Request-Id as sent upstream, derived once from the context. */
export function forwardingHeaders(ctx: RequestContext): Array<readonly [string, string]> {
  const headers: Array<readonly [string, string]> = [
    ['x-forwarded-for', ctx.client.forwardedFor],
    ['x-forwarded-proto', ctx.client.forwardedProto],
    ['x-request-id', ctx.id],
  ];
  if (ctx.client.forwardedHost) headers.push(['x-forwarded-host', ctx.client.forwardedHost]);
  return headers;
}
