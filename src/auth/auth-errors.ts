import { GatewayError } from '../errors.js';

/** The seed gateway's wording, kept verbatim because existing clients match on it (SPEC 2.1). */
export const LOGIN_CONTEXT_NULL = 'Login context is null. Error opening authorization request with supplied tokenHeader.';

/** 401 for a caller whose token is missing, malformed, invalid or expired. `reason` must never echo the token. */
export function loginContextNull(reason: string): GatewayError {
  return new GatewayError(401, 'unauthorized', `${LOGIN_CONTEXT_NULL} (${reason})`);
}

/** 502: the identity provider could not answer, which is not the caller's fault. */
export function identityProviderUnavailable(cause: unknown): GatewayError {
  return new GatewayError(502, 'upstream_unavailable', 'The identity provider is unavailable', {}, { cause });
}
