/** The stable `error` codes of SPEC section 2.3. Clients may branch on these; never rename one. */
export type ErrorCode =
  | 'bad_request'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'method_not_allowed'
  | 'payload_too_large'
  | 'invalid_token'
  | 'token_expired'
  | 'token_revoked'
  | 'team_mismatch'
  | 'route_not_allowed'
  | 'patient_mismatch'
  | 'patient_not_found'
  | 'rate_limited'
  | 'audit_unavailable'
  | 'store_unavailable'
  | 'upstream_unavailable'
  | 'upstream_timeout'
  | 'internal_error';

/** A failure the client is told about: status, stable code and a message safe to show. */
export class GatewayError extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'GatewayError';
  }
}

export interface ErrorBody {
  error: ErrorCode;
  message: string;
  requestId: string;
}

const GENERIC_5XX: Partial<Record<ErrorCode, string>> = {
  internal_error: 'The gateway failed to handle the request',
  upstream_unavailable: 'The upstream service is unavailable',
  upstream_timeout: 'The upstream service did not answer in time',
  audit_unavailable: 'The audit trail cannot be written; BTG access is suspended',
  store_unavailable: 'The grant store is unavailable; BTG access is suspended',
};

/**
 * The one mapping from anything thrown to what the client sees. Unknown errors become a generic 500;
 * 5xx messages are fixed texts so internals (addresses, stack traces, SQL) never leak.
 */
export function toErrorResponse(err: unknown, requestId: string): { status: number; body: ErrorBody; headers: Readonly<Record<string, string>> } {
  if (err instanceof GatewayError) {
    const message = err.status >= 500 ? (GENERIC_5XX[err.code] ?? GENERIC_5XX.internal_error!) : err.message;
    return { status: err.status, body: { error: err.code, message, requestId }, headers: err.headers };
  }
  return {
    status: 500,
    body: { error: 'internal_error', message: GENERIC_5XX.internal_error!, requestId },
    headers: {},
  };
}
