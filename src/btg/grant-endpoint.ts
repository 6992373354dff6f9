import type { IncomingMessage, ServerResponse } from 'node:http';
import { btgHeaderToken } from '../access/classify.js';
import { auditRequestInfo } from '../audit/request-info.js';
import type { AuditEntry, AuditWriter } from '../audit/sink.js';
import type { CallerAuthenticator, LoginContext } from '../auth/login-context.js';
import { GatewayError } from '../errors.js';
import { isValidId } from '../identifiers.js';
import { sendJson } from '../http/respond.js';
import type { Logger } from '../logger.js';
import type { GatewayMetrics } from '../metrics.js';
import type { GrantNotifier } from '../notify/grant-notifier.js';
import type { Runtime } from '../runtime.js';
import { releaseBody, type RequestContext } from '../server/request-context.js';
import type { GrantRecord, GrantStore } from '../store/grant-store.js';
import type { BtgClaims } from './btg-token.js';
import { enforceGrantLimits } from './grant-limits.js';
import { authoriseGrant } from './grant-policy.js';
import { queryGrantFields, readGrantInput, validateGrantFields } from './grant-request.js';
import type { PatientLookup } from './patient-lookup.js';
import { formatRemaining } from './validity.js';

export interface GrantEndpointDeps {
  authenticator: CallerAuthenticator;
  store: GrantStore;
  patients: PatientLookup;
  audit: AuditWriter;
  metrics: GatewayMetrics;
  notifier: GrantNotifier;
  runtime: () => Runtime;
  logger: Logger;
}

/** What is known about a grant attempt so far, for the audit record of its outcome. */
interface Attempt {
  caller?: LoginContext;
  fields: Record<string, string>;
  tokenId?: string;
}

/** `POST {btg.path}` issues a BTG token (SPEC 2.1); `DELETE {btg.path}` revokes one (SPEC 2.2). */
export class GrantEndpoint {
  constructor(private readonly deps: GrantEndpointDeps) {}

  async handle(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): Promise<void> {
    if (req.method === 'POST') return this.grant(req, res, ctx);
    if (req.method === 'DELETE') return this.revoke(req, res, ctx);
    throw new GatewayError(405, 'method_not_allowed', 'Use POST to break the glass or DELETE to revoke', { allow: 'POST, DELETE' });
  }

  private async grant(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): Promise<void> {
    const runtime = this.deps.runtime();
    const { btg } = runtime.config;
    const attempt: Attempt = { fields: {} };
    try {
      attempt.fields = knownBeforeBody(req);
      const caller = await this.authenticate(req, ctx, attempt);
      authoriseGrant(caller, btg);
      releaseBody(ctx, res);
      attempt.fields = await readGrantInput(req, btg.maxBodyBytes);
      const fields = validateGrantFields(attempt.fields, btg.requireReason);
      await enforceGrantLimits(this.deps.store, btg.limits, caller.teamId, fields.userId);
      await this.deps.patients.requireExists(fields.pkbId);
      const { token, claims } = await runtime.tokens.issue({ ...fields, teamId: caller.teamId });
      attempt.tokenId = ctx.log.tokenId = claims.jti;
      // The record is durable before the token exists for anyone but us: no audit, no grant.
      await this.deps.audit.write(this.entry('grant', 'success', req, ctx, attempt));
      const grant = grantOf(claims);
      await this.deps.store.recordGrant(grant);
      this.deps.metrics.grants.inc({ outcome: 'success' });
      ctx.log.outcome = 'success';
      this.deps.logger.info({ reqId: ctx.id, event: 'btg_grant', teamId: grant.teamId, tokenId: grant.jti, expiresAt: grant.expiresAt }, 'BTG granted');
      this.deps.notifier.notify('grant', grant);
      res.setHeader(btg.header, token);
      sendJson(res, 200, grantedBody(token, claims));
    } catch (err) {
      await this.refused('grant', req, ctx, attempt, err);
      throw err;
    }
  }

  private async revoke(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): Promise<void> {
    const runtime = this.deps.runtime();
    const attempt: Attempt = { fields: {} };
    try {
      const caller = await this.authenticate(req, ctx, attempt);
      const btgToken = btgHeaderToken(req.rawHeaders, runtime.classify);
      if (btgToken === undefined) {
        throw new GatewayError(400, 'bad_request', `Send the token to revoke in the ${runtime.config.btg.header} header`);
      }
      const claims = await runtime.tokens.verify(btgToken);
      attempt.tokenId = ctx.log.tokenId = claims.jti;
      attempt.fields = { userId: claims.sub, pkbId: claims.pkbId, ...(claims.reason ? { reason: claims.reason } : {}) };
      if (claims.team !== caller.teamId) {
        throw new GatewayError(403, 'team_mismatch', 'The BTG token was issued to another team');
      }
      // Verification still accepts a token for clockToleranceSeconds past exp: so must revocation.
      await this.deps.store.revoke(claims.jti, (claims.exp + runtime.config.btg.clockToleranceSeconds) * 1000);
      await this.deps.audit.write(this.entry('revoke', 'success', req, ctx, attempt));
      ctx.log.outcome = 'revoked';
      this.deps.logger.info({ reqId: ctx.id, event: 'btg_revoke', teamId: caller.teamId, tokenId: claims.jti }, 'BTG token revoked');
      this.deps.notifier.notify('revoke', grantOf(claims));
      res.writeHead(204).end();
    } catch (err) {
      await this.refused('revoke', req, ctx, attempt, err);
      throw err;
    }
  }

  private async authenticate(req: IncomingMessage, ctx: RequestContext, attempt: Attempt): Promise<LoginContext> {
    const caller = await this.deps.authenticator.authenticate(req.headers.authorization);
    attempt.caller = caller;
    ctx.log.teamId = caller.teamId;
    return caller;
  }

  /** Refusals are audited too; if even that fails the client still gets the original refusal. */
  private async refused(event: 'grant' | 'revoke', req: IncomingMessage, ctx: RequestContext, attempt: Attempt, err: unknown): Promise<void> {
    const code = err instanceof GatewayError ? err.code : 'internal_error';
    if (event === 'grant') this.deps.metrics.grants.inc({ outcome: code });
    this.deps.logger.warn(
      { reqId: ctx.id, event: `btg_${event}_refused`, code, teamId: attempt.caller?.teamId, tokenId: attempt.tokenId, clientIp: ctx.client.ip },
      `BTG ${event} refused`,
    );
    try {
      await this.deps.audit.write({ ...this.entry(event, 'failure', req, ctx, attempt), code });
    } catch (auditErr) {
      this.deps.logger.error({ reqId: ctx.id, err: (auditErr as Error).message }, 'could not audit a refused BTG grant/revoke');
    }
  }

  /** A refused attempt's fields are client input: only well-formed ids go into the record. */
  private entry(event: 'grant' | 'revoke', outcome: 'success' | 'failure', req: IncomingMessage, ctx: RequestContext, attempt: Attempt): AuditEntry {
    const { caller, fields, tokenId } = attempt;
    const reason = fields.reason?.trim().slice(0, 500);
    return {
      event,
      outcome,
      ...(caller ? { teamId: caller.teamId } : {}),
      ...(fields.userId && isValidId(fields.userId) ? { userId: fields.userId } : {}),
      ...(fields.pkbId && isValidId(fields.pkbId) ? { pkbId: fields.pkbId } : {}),
      ...(tokenId ? { tokenId } : {}),
      ...(reason ? { reason } : {}),
      request: auditRequestInfo(req, ctx),
    };
  }
}

/**
 * The query-string fields, so that a refusal before the body is read still names the patient asked
 * for. Malformed ones are left for validation to refuse in SPEC order (authentication first).
 */
function knownBeforeBody(req: IncomingMessage): Record<string, string> {
  try {
    return queryGrantFields(req);
  } catch {
    return {};
  }
}

/** The grant a BTG token stands for, as the store and the notifier know it. */
function grantOf(claims: BtgClaims): GrantRecord {
  return {
    jti: claims.jti,
    teamId: claims.team,
    userId: claims.sub,
    pkbId: claims.pkbId,
    issuedAt: claims.iat * 1000,
    expiresAt: claims.exp * 1000,
    ...(claims.reason ? { reason: claims.reason } : {}),
  };
}

/** SPEC 2.1's 200 body, with the seed's message. */
function grantedBody(token: string, claims: BtgClaims): Record<string, unknown> {
  const expiresIn = claims.exp - claims.iat;
  return {
    message: `Consent levels set to BTG against patient ${claims.pkbId} for requestor ${claims.sub} valid until ${formatRemaining(expiresIn)}`,
    token,
    tokenId: claims.jti,
    pkbId: claims.pkbId,
    userId: claims.sub,
    teamId: claims.team,
    expiresAt: new Date(claims.exp * 1000).toISOString(),
    expiresIn,
    ...(claims.reason ? { reason: claims.reason } : {}),
  };
}
