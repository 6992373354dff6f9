/** Claims of a BTG token (SPEC 2.1): the gateway's own signed statement of one grant. */
export interface BtgClaims {
  iss: string;
  aud: string;
  /** The userId the client passed: PKB tracks the user by it. */
  sub: string;
  team: string;
  pkbId: string;
  jti: string;
  /** Epoch seconds. */
  iat: number;
  /** Epoch seconds. */
  exp: number;
  reason?: string;
}

export interface IssueRequest {
  userId: string;
  teamId: string;
  pkbId: string;
  reason?: string;
}

/**
 * Issues and verifies BTG tokens (compact JWS, header `typ: btg+jwt` and `kid`).
 * `verify` checks signature, pinned algorithm, `typ`, `iss`, `aud`, required claims, expiry and
 * maximum age, and rejects with GatewayError 401 `invalid_token` or `token_expired`. It does not
 * consult revocation: that is the grant store's job, on every request.
 */
export interface BtgTokenService {
  issue(request: IssueRequest): Promise<{ token: string; claims: BtgClaims }>;
  verify(token: string): Promise<BtgClaims>;
  /** Public keys for `GET /.well-known/jwks.json`; empty for HS256. */
  publicJwks(): { keys: Record<string, unknown>[] };
}
