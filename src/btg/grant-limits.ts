import { GatewayError } from '../errors.js';
import type { GrantStore } from '../store/grant-store.js';

export interface GrantLimits {
  grantsPerUserPerHour: number;
  grantsPerTeamPerHour: number;
}

const HOUR = 3600;

/**
 * SPEC 2.1 check 4. Every attempt that gets this far counts, including ones for unknown
 * patients, so the limit also caps probing for patient ids. Fixed one-hour windows; 0 disables.
 */
export async function enforceGrantLimits(store: GrantStore, limits: GrantLimits, teamId: string, userId: string): Promise<void> {
  const checks: Array<[string, number, string]> = [
    [`grants:user:${encodeURIComponent(teamId)}:${encodeURIComponent(userId)}`, limits.grantsPerUserPerHour, `user ${userId}`],
    [`grants:team:${encodeURIComponent(teamId)}`, limits.grantsPerTeamPerHour, `team ${teamId}`],
  ];
  for (const [key, limit, who] of checks) {
    if (limit === 0) continue;
    const { count, resetInSeconds } = await store.increment(key, HOUR);
    if (count > limit) {
      throw new GatewayError(429, 'rate_limited', `Too many BTG grants for ${who}: at most ${limit} per hour`, {
        'retry-after': String(Math.max(1, resetInSeconds)),
      });
    }
  }
}
