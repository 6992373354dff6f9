import { GatewayError } from '../errors.js';

/**
 * A BTG request target, parsed strictly. `raw` is what gets forwarded: the string that was checked is
 * the string upstream sees, so no re-serialisation can open a gap between our reading and upstream's.
 */
export interface RequestTarget {
  raw: string;
  rawPath: string;
  /** Decoded path segments, without the leading empty one; `/` alone is `[]`, a trailing `/` adds `''`. */
  segments: string[];
  /** After the first `?`; `''` when there is none. */
  rawQuery: string;
  /** Decoded (`+` as space), in order; empty `&&` pieces are skipped. */
  query: ReadonlyArray<{ rawName: string; name: string; value: string }>;
}

export const MAX_TARGET_LENGTH = 8192;

/** RFC 3986 pchar plus `/`, minus `;` (path parameters are refused separately, with their own message). */
const PATH_CHAR = /^[A-Za-z0-9\-._~!$&'()*+,=:@%/]$/;
const MALFORMED_PERCENT = /%(?![0-9A-Fa-f]{2})/;
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
/** Servers that trim trailing dots and spaces (Windows, IIS) would read these as `.`/`..`. */
const DOT_SEGMENT = /^[. ]+$/;

function refuse(message: string): never {
  throw new GatewayError(400, 'bad_request', message);
}

/**
 * Parses Node's `req.url` for a BTG request. Anything another component could read differently from
 * us (dot segments, encoded separators, double encoding, path parameters, odd bytes) is refused with
 * 400 rather than normalised: the gateway never guesses which patient a request addresses.
 */
export function parseRequestTarget(rawTarget: string): RequestTarget {
  checkWholeTarget(rawTarget);
  const q = rawTarget.indexOf('?');
  const rawPath = q === -1 ? rawTarget : rawTarget.slice(0, q);
  const rawQuery = q === -1 ? '' : rawTarget.slice(q + 1);
  return { raw: rawTarget, rawPath, segments: parsePath(rawPath), rawQuery, query: parseQuery(rawQuery) };
}

function checkWholeTarget(raw: string): void {
  if (raw.length > MAX_TARGET_LENGTH) refuse(`Request target is longer than ${MAX_TARGET_LENGTH} characters`);
  if (!raw.startsWith('/')) refuse('Request target must be a path starting with / (origin-form)');
  if (/[^\x21-\x7e]/.test(raw)) refuse('Request target contains a space, control character or non-ASCII byte');
  if (raw.includes('#')) refuse('Request target must not contain a # fragment');
  if (raw.includes('\\')) refuse('Request target must not contain a backslash');
  if (MALFORMED_PERCENT.test(raw)) refuse('Request target contains malformed percent-encoding');
}

function parsePath(rawPath: string): string[] {
  if (rawPath === '/') return [];
  for (const ch of rawPath) {
    if (ch === ';') refuse('Path parameters (;) are not allowed in a BTG request path');
    if (!PATH_CHAR.test(ch)) refuse(`Character ${JSON.stringify(ch)} is not allowed in a BTG request path`);
  }
  const rawSegments = rawPath.slice(1).split('/');
  return rawSegments.map((segment, i) => {
    // A trailing slash is an honest empty last segment; an empty one in the middle (`//`) is not.
    if (segment === '' && i < rawSegments.length - 1) refuse('Empty path segments (//) are not allowed');
    return decodePathSegment(segment);
  });
}

function decodePathSegment(rawSegment: string): string {
  const decoded = decode(rawSegment);
  if (decoded === '') return decoded;
  if (DOT_SEGMENT.test(decoded)) refuse('Dot segments (. or .., raw or encoded) are not allowed in a path');
  if (decoded.includes('/')) refuse('Encoded / (%2F) is not allowed in a path');
  if (decoded.includes('\\')) refuse('Encoded \\ (%5C) is not allowed in a path');
  if (decoded.includes('%')) refuse('Double percent-encoding (%25) is not allowed in a path');
  if (CONTROL.test(decoded)) refuse('Encoded NUL or control characters are not allowed in a path');
  if (/[^\x20-\x7e]/.test(decoded)) refuse('Encoded non-ASCII characters are not allowed in a path');
  if (/[;?#]/.test(decoded)) refuse('Encoded delimiters (%3B, %3F, %23) are not allowed in a path');
  return decoded;
}

function parseQuery(rawQuery: string): RequestTarget['query'] {
  // Some frameworks still split queries on `;` as well as `&`; refusing it keeps one reading.
  if (rawQuery.includes(';')) refuse('A ; in the query string is not allowed in a BTG request');
  return rawQuery
    .split('&')
    .filter((piece) => piece !== '')
    .map((piece) => {
      const eq = piece.indexOf('=');
      const rawName = eq === -1 ? piece : piece.slice(0, eq);
      const name = decodeQueryComponent(rawName);
      const value = decodeQueryComponent(eq === -1 ? '' : piece.slice(eq + 1));
      if (/[^\x20-\x7e]/.test(name)) refuse('Query parameter names must be printable ASCII');
      return { rawName, name, value };
    });
}

function decodeQueryComponent(raw: string): string {
  const decoded = decode(raw.replaceAll('+', ' '));
  if (CONTROL.test(decoded)) refuse('Encoded NUL or control characters are not allowed in the query string');
  return decoded;
}

/** Percent-decodes as UTF-8; invalid UTF-8 (including overlong forms like %C0%AE) is malformed. */
function decode(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    return refuse('Request target contains percent-encoding that is not valid UTF-8');
  }
}
