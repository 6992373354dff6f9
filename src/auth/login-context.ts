/** Who is calling, as read from the team client's own bearer token (SPEC section 4). */
export interface LoginContext {
  teamId: string;
  /** CLINICIAN, PATIENT, TEAMCOORD, SITE … as the identity provider spells it. */
  userType: string;
  /** The token's subject; for audit only: the BTG token's user is the `userId` the client passes. */
  user: string;
  scopes: readonly string[];
  /** Epoch seconds after which this context must not be trusted (the bearer token's `exp`). */
  expiresAt?: number;
}

/**
 * Turns an `Authorization` header value into a login context.
 * Rejects with GatewayError 401 `unauthorized` (message starting `Login context is null.`) when the
 * token is missing, malformed, invalid or expired, and 502 `upstream_unavailable` when the identity
 * provider (JWKS or introspection endpoint) cannot be reached: an outage is not the caller's fault.
 */
export interface CallerAuthenticator {
  authenticate(authorization: string | undefined): Promise<LoginContext>;
  close(): Promise<void>;
}
