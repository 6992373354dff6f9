import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { auditRequestInfo } from '../audit/request-info.js';
import type { AuditRequestInfo } from '../audit/record.js';
import { ResponseTap } from '../audit/response-tap.js';
import type { AuditEntry, AuditWriter } from '../audit/sink.js';
import type { CallerAuthenticator } from '../auth/login-context.js';
import type { BtgClaims } from '../btg/btg-token.js';
import { GatewayError } from '../errors.js';
import { sanitiseUpgradeHeaders, upstreamRequestHeaders } from '../http/headers.js';
import { renderError } from '../http/respond.js';
import type { Logger } from '../logger.js';
import type { GatewayMetrics } from '../metrics.js';
import { hasRequestBody, type Forwarder, type ForwardResult } from '../proxy/forwarder.js';
import type { WebSocketProxy } from '../proxy/websocket-proxy.js';
import type { Runtime } from '../runtime.js';
import { forwardingHeaders, releaseBody, type RequestContext } from '../server/request-context.js';
import type { GrantStore } from '../store/grant-store.js';
import { decideBtgAccess, PatientMismatchError } from './btg-decision.js';
import { btgTokenOf } from './classify.js';
import { identityHeaders, OVERRIDE_HEADERS } from './identity-headers.js';
import { parseRequestTarget } from './request-target.js';

export interface BtgProxyDeps {
  authenticator: CallerAuthenticator;
  store: GrantStore;
  audit: AuditWriter;
  forwarder: Forwarder;
  webSockets: WebSocketProxy;
  metrics: GatewayMetrics;
  logger: Logger;
  /** Lower-cased names no client may send upstream (identity headers, the BTG header). */
  reservedHeaders: ReadonlySet<string>;
}

/**
 * For the record of a refusal that came before route matching (bad token, wrong team): the patient
 * the request addressed, if the routes can tell, so that patient's history shows the attempt.
 */
function addressedPatient(rawTarget: string, runtime: Runtime): string | undefined {
  try {
    return runtime.access.routes.locate(parseRequestTarget(rawTarget))?.pkbId;
  } catch {
    return undefined;
  }
}

/** The status code of a raw HTTP/1.x response head, or 0 when the bytes are not one. */
function statusOfResponseHead(chunk: Uint8Array): number {
  const match = /^HTTP\/1\.[01] (\d{3})/.exec(Buffer.from(chunk.buffer, chunk.byteOffset, Math.min(chunk.byteLength, 16)).toString('latin1'));
  return match ? Number(match[1]) : 0;
}

/** What the checks established about an allowed BTG request. */
interface Allowed {
  claims: BtgClaims;
  pkbId: string;
}

/** What is known about a BTG request so far, for the audit record of a refusal. */
interface Known {
  claims?: BtgClaims;
  callerTeam?: string;
  pkbId?: string;
}

/**
 * SPEC 2.3, requests carrying a `breaktheglass` header: every check passes or the request is refused
 * and audited as `denied`; the `access` record is durable before anything goes upstream; the
 * response is hashed as the client receives it and audited as `response`.
 */
export class BtgProxy {
  private readonly dropHeaders: ReadonlySet<string>;

  constructor(private readonly deps: BtgProxyDeps) {
    this.dropHeaders = new Set([...deps.reservedHeaders, ...OVERRIDE_HEADERS]);
  }

  async handle(req: IncomingMessage, res: ServerResponse, ctx: RequestContext, headerValues: string[], runtime: Runtime): Promise<void> {
    const request = auditRequestInfo(req, ctx);
    const allowed = await this.admit(req, ctx, headerValues, runtime, request);
    const tap = new ResponseTap(runtime.config.audit.body, runtime.config.audit.maxCaptureBytes);
    releaseBody(ctx, res);
    const result = await this.deps.forwarder.forward(res, {
      method: req.method!,
      target: req.url!,
      headers: upstreamRequestHeaders(req.rawHeaders, { drop: this.dropHeaders, add: this.gatewayHeaders(ctx, runtime, allowed) }),
      body: hasRequestBody(req) ? req : null,
      observer: tap,
    });
    const outcome = this.settle(res, ctx, result, tap);
    ctx.log.outcome = outcome;
    this.deps.metrics.btgRequests.inc({ outcome });
    void this.recordResponse(allowed, request, outcome, tap);
  }

  /** A WebSocket handshake with a BTG header: the same checks and audit, then http-proxy. */
  async handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, ctx: RequestContext, headerValues: string[], runtime: Runtime): Promise<void> {
    const request = auditRequestInfo(req, ctx);
    const allowed = await this.admit(req, ctx, headerValues, runtime, request);
    sanitiseUpgradeHeaders(req.headers, req.rawHeaders, { drop: this.dropHeaders, add: this.gatewayHeaders(ctx, runtime, allowed) });
    const tap = new ResponseTap('digest', 0);
    let answered = false;
    let upstreamFailed = false;
    socket.once('close', () => {
      // Whatever upstream answered (101 or a refusal) was relayed: success, as for HTTP.
      const outcome = upstreamFailed ? 'upstream_unavailable' : answered ? 'success' : 'client_aborted';
      this.deps.metrics.btgRequests.inc({ outcome });
      void this.recordResponse(allowed, request, outcome, tap);
    });
    this.deps.webSockets.forward(req, socket, head, {
      onSent: (chunk) => {
        if (!answered) tap.onHeaders(statusOfResponseHead(chunk), []);
        answered = true;
        tap.onSent(chunk);
      },
      onUpstreamFailed: () => {
        upstreamFailed = true;
      },
    });
  }

  /** X-Forwarded-*, X-Request-Id and the identity headers upstream may trust, for HTTP and upgrades alike. */
  private gatewayHeaders(ctx: RequestContext, runtime: Runtime, allowed: Allowed): Array<readonly [string, string]> {
    return [...forwardingHeaders(ctx), ...identityHeaders(runtime.config.upstream.btgHeaders, allowed.claims)];
  }

  /** Runs every check in SPEC order and makes the `access` record durable; refusals are audited. */
  private async admit(req: IncomingMessage, ctx: RequestContext, headerValues: string[], runtime: Runtime, request: AuditRequestInfo): Promise<Allowed> {
    const known: Known = {};
    let allowed: Allowed;
    try {
      const claims = await runtime.tokens.verify(btgTokenOf(headerValues, runtime.classify));
      known.claims = claims;
      ctx.log.tokenId = claims.jti;
      ctx.log.teamId = claims.team;
      if (await this.deps.store.isRevoked(claims.jti)) {
        throw new GatewayError(401, 'token_revoked', 'BTG token has been revoked');
      }
      const caller = await this.deps.authenticator.authenticate(req.headers.authorization);
      known.callerTeam = caller.teamId;
      if (caller.teamId !== claims.team) {
        throw new GatewayError(403, 'team_mismatch', 'The BTG token was issued to another team');
      }
      const located = decideBtgAccess(req.method ?? '', parseRequestTarget(req.url ?? ''), claims.pkbId, runtime.access);
      known.pkbId = located.pkbId;
      allowed = { claims, pkbId: located.pkbId };
    } catch (err) {
      known.pkbId ??= addressedPatient(req.url ?? '', runtime);
      await this.deny(err, known, request, ctx);
      throw err;
    }
    try {
      await this.deps.audit.write(this.entry('access', 'success', allowed, request));
    } catch (err) {
      this.deps.metrics.btgRequests.inc({ outcome: 'audit_unavailable' });
      ctx.log.outcome = 'audit_unavailable';
      throw err;
    }
    return allowed;
  }

  private async deny(err: unknown, known: Known, request: AuditRequestInfo, ctx: RequestContext): Promise<void> {
    const code = err instanceof GatewayError ? err.code : 'internal_error';
    this.deps.metrics.btgRequests.inc({ outcome: code });
    ctx.log.outcome = code;
    const claims = known.claims;
    this.deps.logger.warn(
      { reqId: ctx.id, event: 'btg_denied', code, teamId: claims?.team ?? known.callerTeam, tokenId: claims?.jti, clientIp: ctx.client.ip },
      'BTG request denied',
    );
    const located = err instanceof PatientMismatchError ? err.requestedPkbId : (known.pkbId ?? claims?.pkbId);
    try {
      await this.deps.audit.write({
        event: 'denied',
        outcome: 'failure',
        code,
        ...(claims ? { teamId: claims.team, userId: claims.sub, tokenId: claims.jti } : known.callerTeam ? { teamId: known.callerTeam } : {}),
        ...(located ? { pkbId: located } : {}),
        ...(claims && located !== claims.pkbId ? { tokenPkbId: claims.pkbId } : {}),
        ...(claims?.reason ? { reason: claims.reason } : {}),
        request,
      });
    } catch (auditErr) {
      this.deps.logger.error({ reqId: ctx.id, err: (auditErr as Error).message }, 'could not audit a denied BTG request');
    }
  }

  /**
   * Turns the forwarding result into the outcome code; when the gateway itself must answer (502,
   * 504) it answers here, through the tap, so the audited digest is of the bytes actually sent.
   */
  private settle(res: ServerResponse, ctx: RequestContext, result: ForwardResult, tap: ResponseTap): string {
    if (result.complete) return 'success';
    if (result.clientAborted) return 'client_aborted';
    if (!(result.error instanceof GatewayError)) return 'upstream_aborted';
    const { status, headers, payload } = renderError(result.error, ctx.id);
    tap.sentByGateway(status, headers['content-type']!, payload);
    res.writeHead(status, headers).end(payload);
    return result.error.code;
  }

  private async recordResponse(allowed: Allowed, request: AuditRequestInfo, outcome: string, tap: ResponseTap): Promise<void> {
    const success = outcome === 'success';
    try {
      await this.deps.audit.write({
        ...this.entry('response', success ? 'success' : 'failure', allowed, request),
        ...(success ? {} : { code: outcome }),
        response: await tap.summary(),
      });
    } catch (err) {
      this.deps.logger.error({ reqId: request.id, err: (err as Error).message }, 'could not audit a BTG response');
    }
  }

  private entry(event: 'access' | 'response', outcome: 'success' | 'failure', allowed: Allowed, request: AuditRequestInfo): AuditEntry {
    const { claims, pkbId } = allowed;
    return {
      event,
      outcome,
      teamId: claims.team,
      userId: claims.sub,
      pkbId,
      tokenId: claims.jti,
      ...(claims.reason ? { reason: claims.reason } : {}),
      request,
    };
  }
}
