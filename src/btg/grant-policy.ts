import type { LoginContext } from '../auth/login-context.js';
import { GatewayError } from '../errors.js';

export interface GrantPolicy {
  requiredUserType: string;
  /** Team ids allowed to break the glass; `*` allows every team. */
  enabledTeams: readonly string[];
}

/** SPEC 2.1 check 2, with the seed's wording, which clients may already match on. */
export function authoriseGrant(caller: LoginContext, policy: GrantPolicy): void {
  const prefix = `Method requires a user within scope(s) ${policy.requiredUserType} and BTG functionality enabled but`;
  if (caller.userType !== policy.requiredUserType) {
    throw new GatewayError(401, 'unauthorized', `${prefix} current user is of UserType ${caller.userType}`);
  }
  if (!policy.enabledTeams.includes('*') && !policy.enabledTeams.includes(caller.teamId)) {
    throw new GatewayError(401, 'unauthorized', `${prefix} team ${caller.teamId} does not have BTG functionality enabled`);
  }
}
