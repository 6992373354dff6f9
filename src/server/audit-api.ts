import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuditReader, AuditWriter } from '../audit/sink.js';
import { auditRequestInfo } from '../audit/request-info.js';
import { GatewayError } from '../errors.js';
import { sendJson } from '../http/respond.js';
import { ID_RULE, isValidId } from '../identifiers.js';
import type { GrantStore } from '../store/grant-store.js';
import type { RequestContext } from './request-context.js';

export interface AuditApiDeps {
  adminToken: string | undefined;
  audit: AuditWriter & { readers(): AuditReader[] };
  store: GrantStore;
}

const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1000;
const READER_HEADER = 'x-audit-reader';

/**
 * `GET /audit` and `GET /grants` on the admin listener, for patients' teams and privacy officers.
 * Every read is itself audited (`audit_read`), durably, before any data is returned; a read is not
 * part of its own answer.
 */
export class AuditApi {
  constructor(private readonly deps: AuditApiDeps) {}

  async history(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): Promise<void> {
    this.authorise(req);
    const params = new URL(req.url ?? '/', 'http://admin').searchParams;
    const query = parseHistoryQuery(params);
    const reader = this.deps.audit.readers()[0];
    if (!reader) throw new GatewayError(404, 'not_found', 'No queryable audit sink (file or postgres) is configured');
    const records = await reader.query(query);
    await this.recordRead(req, ctx, query.pkbId);
    sendJson(res, 200, records);
  }

  async grants(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): Promise<void> {
    this.authorise(req);
    const grants = await this.deps.store.activeGrants();
    await this.recordRead(req, ctx, undefined);
    sendJson(
      res,
      200,
      grants.map((g) => ({
        tokenId: g.jti,
        teamId: g.teamId,
        userId: g.userId,
        pkbId: g.pkbId,
        ...(g.reason ? { reason: g.reason } : {}),
        issuedAt: new Date(g.issuedAt).toISOString(),
        expiresAt: new Date(g.expiresAt).toISOString(),
      })),
    );
  }

  private authorise(req: IncomingMessage): void {
    const expected = this.deps.adminToken;
    if (expected === undefined) {
      throw new GatewayError(401, 'unauthorized', 'admin.token is not configured: the audit API is disabled');
    }
    const given = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1] ?? '';
    const a = Buffer.from(given);
    const b = Buffer.from(expected);
    if (a.length !== b.length || !timingSafeEqual(a, b)) {
      throw new GatewayError(401, 'unauthorized', 'A valid admin bearer token is required');
    }
  }

  /** Who read: the shared admin token cannot say, so an `X-Audit-Reader` header may name the person. */
  private async recordRead(req: IncomingMessage, ctx: RequestContext, pkbId: string | undefined): Promise<void> {
    const reader = req.headers[READER_HEADER];
    if (reader !== undefined && (typeof reader !== 'string' || !isValidId(reader))) {
      throw new GatewayError(400, 'bad_request', `${READER_HEADER} must be ${ID_RULE}`);
    }
    await this.deps.audit.write({
      event: 'audit_read',
      outcome: 'success',
      ...(reader ? { userId: reader } : {}),
      ...(pkbId ? { pkbId } : {}),
      request: auditRequestInfo(req, ctx),
    });
  }
}

/** Pure parsing of `pkbId`, `since` (ISO time) and `limit` (1–1000, default 100). */
export function parseHistoryQuery(params: URLSearchParams): { pkbId: string; since?: number; limit: number } {
  const single = (name: string): string | undefined => {
    const values = params.getAll(name);
    if (values.length > 1) throw new GatewayError(400, 'bad_request', `${name} is given more than once`);
    return values[0];
  };
  const pkbId = single('pkbId');
  if (!pkbId || !isValidId(pkbId)) throw new GatewayError(400, 'bad_request', `pkbId is required: ${ID_RULE}`);
  const sinceText = single('since');
  const since = sinceText === undefined ? undefined : Date.parse(sinceText);
  if (since !== undefined && Number.isNaN(since)) throw new GatewayError(400, 'bad_request', 'since must be an ISO 8601 time');
  const limitText = single('limit');
  const limit = limitText === undefined ? DEFAULT_LIMIT : Number(limitText);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) {
    throw new GatewayError(400, 'bad_request', `limit must be an integer from 1 to ${MAX_LIMIT}`);
  }
  return { pkbId, limit, ...(since !== undefined ? { since } : {}) };
}
