import { GatewayError } from '../errors.js';
import { rawHeaderValues } from '../http/headers.js';

export type Classification =
  | { kind: 'grant' }
  | { kind: 'jwks' }
  | { kind: 'passthrough' }
  /** Every value of the BTG header, however many and however malformed: checked, and audited, later. */
  | { kind: 'btg'; values: string[] };

export interface ClassifyOptions {
  btgPath: string;
  btgHeader: string;
  maxTokenBytes: number;
}

const JWKS_PATH = '/.well-known/jwks.json';
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/**
 * Decides which door a request takes. The gateway's own endpoints win (the revoke call carries a
 * BTG header on purpose); otherwise any BTG header, however malformed, means BTG handling: a request
 * that carries one is never passed through as ordinary access. Classification never refuses: the
 * BTG handler does, so that a malformed header is audited like every other refusal.
 */
export function classifyRequest(method: string, rawTarget: string, rawHeaders: readonly string[], options: ClassifyOptions): Classification {
  const q = rawTarget.indexOf('?');
  const rawPath = q === -1 ? rawTarget : rawTarget.slice(0, q);
  if (rawPath === options.btgPath) return { kind: 'grant' };
  if (method === 'GET' && rawPath === JWKS_PATH) return { kind: 'jwks' };
  const values = rawHeaderValues(rawHeaders, options.btgHeader);
  return values.length === 0 ? { kind: 'passthrough' } : { kind: 'btg', values };
}

/** The BTG header's token when there is one, shape-checked; undefined when the header is absent. */
export function btgHeaderToken(rawHeaders: readonly string[], options: ClassifyOptions): string | undefined {
  const values = rawHeaderValues(rawHeaders, options.btgHeader);
  return values.length === 0 ? undefined : btgTokenOf(values, options);
}

/**
 * The one token the header values may hold: exactly one value, size-capped, compact-JWS-shaped;
 * else 401 `invalid_token` (the message never echoes the value).
 */
export function btgTokenOf(values: readonly string[], options: ClassifyOptions): string {
  const invalid = (why: string): never => {
    throw new GatewayError(401, 'invalid_token', `The ${options.btgHeader} header ${why}`);
  };
  if (values.length > 1) invalid('must be sent exactly once');
  const token = values[0]!;
  if (token === '') invalid('is empty');
  // Node decodes header bytes as latin1, so one character is one byte on the wire.
  if (token.length > options.maxTokenBytes) invalid(`is longer than ${options.maxTokenBytes} bytes`);
  if (token.includes(',')) invalid('must hold one token, not a list');
  if (!COMPACT_JWS.test(token)) invalid('is not a compact JWS (three base64url parts separated by dots)');
  return token;
}
