/** Audit record shapes of SPEC section 6. Field names are an interface: never rename one. */

export type AuditEvent = 'grant' | 'access' | 'response' | 'denied' | 'revoke' | 'audit_read';

export interface AuditRequestInfo {
  id: string;
  method: string;
  path: string;
  query: string;
  clientIp: string;
  userAgent?: string;
}

export interface AuditResponseInfo {
  status: number;
  bytes: number;
  sha256: string;
  contentType?: string;
  body?: string;
  truncated?: boolean;
}

/** What callers hand to the audit trail; the trail adds `seq`, `prevHash` and `hash`. */
export interface AuditDraft {
  id: string;
  time: string;
  instance: string;
  event: AuditEvent;
  outcome: 'success' | 'failure';
  code?: string;
  teamId?: string;
  userId?: string;
  /** The patient whose data the request addressed (for grants: the patient of the grant). */
  pkbId?: string;
  /** Extension: the token's patient, when it differs from `pkbId` (a `patient_mismatch` refusal). */
  tokenPkbId?: string;
  tokenId?: string;
  reason?: string;
  request?: AuditRequestInfo;
  response?: AuditResponseInfo;
}

export interface AuditRecord extends AuditDraft {
  seq: number;
  prevHash: string;
  hash: string;
}

export const GENESIS_HASH = '0'.repeat(64);
