import { loginContextNull } from './auth-errors.js';

// RFC 6750 section 2.1: scheme, one or more spaces, b64token. Anything else is refused rather than guessed.
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*)$/i;

/** The token of an `Authorization: Bearer <token>` header, or a 401. */
export function parseBearerToken(authorization: string | undefined): string {
  if (authorization === undefined || authorization === '') throw loginContextNull('no bearer token');
  const match = BEARER.exec(authorization);
  if (match === null) throw loginContextNull('malformed Authorization header');
  return match[1]!;
}
