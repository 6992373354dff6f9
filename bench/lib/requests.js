// The request mixes each case sends. autocannon builds each once; every connection cycles through them.
import { patientId } from './gateway-fixtures.js';

const GRANT_REQUEST_VARIANTS = 512;

/** An ordinary (consented) read: the caller's bearer token, no breaktheglass header. */
export function passthroughRequests(callers) {
  return Array.from({ length: 64 }, (_, i) => ({
    method: 'GET',
    path: `/patients/${patientId(i)}/records`,
    headers: { authorization: `Bearer ${callers[i % callers.length].jwt}` },
  }));
}

/** A BTG read: the same read carrying a valid token for that patient, with the granting caller's bearer. */
export function btgRequests(grants) {
  return grants.map(({ caller, pkbId, token }) => ({
    method: 'GET',
    path: `/patients/${pkbId}/records`,
    headers: { authorization: `Bearer ${caller.jwt}`, breaktheglass: token },
  }));
}

/** Grant issuance with many distinct userIds (limits are off in the bench config). */
export function grantRequests(callers) {
  return Array.from({ length: GRANT_REQUEST_VARIANTS }, (_, i) => ({
    method: 'POST',
    path: '/btg',
    headers: { authorization: `Bearer ${callers[i % callers.length].jwt}`, 'content-type': 'application/json' },
    body: JSON.stringify({ userId: `grant-user-${i}`, pkbId: patientId(i) }),
  }));
}
