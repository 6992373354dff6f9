import { GatewayError } from '../errors.js';
import type { RequestTarget } from './request-target.js';
import type { RouteMatch, RouteMatcher } from './route-matcher.js';

export interface AccessPolicy {
  methods: ReadonlySet<string>;
  routes: RouteMatcher;
}

/** A refusal that must name, in the audit trail, the patient the request really addressed. */
export class PatientMismatchError extends GatewayError {
  constructor(readonly requestedPkbId: string) {
    super(403, 'patient_mismatch', 'The request addresses a different patient than the BTG token was issued for');
  }
}

/** Decides whether a BTG request for `tokenPkbId` may go upstream. Returns the located patient. */
export function decideBtgAccess(method: string, target: RequestTarget, tokenPkbId: string, policy: AccessPolicy): RouteMatch {
  if (!policy.methods.has(method)) {
    throw new GatewayError(403, 'route_not_allowed', `Method ${method} is not allowed with a BTG token`);
  }
  const match = policy.routes.locate(target);
  if (match === undefined) {
    throw new GatewayError(403, 'route_not_allowed', 'No BTG route rule matches this path');
  }
  if (match.pkbId !== tokenPkbId) {
    throw new PatientMismatchError(match.pkbId);
  }
  return match;
}
