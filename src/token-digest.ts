import { hash } from 'node:crypto';

/**
 * Cache key for a bearer token. Caches hold this digest, never the token itself, so a heap dump or a
 * debug print of a cache does not hand out credentials.
 */
export function tokenDigest(token: string): string {
  return hash('sha256', token, 'base64url');
}
