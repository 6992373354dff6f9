import type { CallerAuthConfig } from '../config/schema.js';
import { loginContextNull } from './auth-errors.js';
import type { LoginContext } from './login-context.js';

export type ClaimNames = CallerAuthConfig['claims'];
export type ClaimSet = Readonly<Record<string, unknown>>;

// These values travel into upstream headers and audit records: bounded, printable text only.
const MAX_VALUE_LENGTH = 256;
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f]/;
/** The team goes upstream in an identity header: visible ASCII and inner spaces only. */
const HEADER_SAFE = /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/;

/**
 * Reads the login context out of a verified claim set (a JWT payload or an introspection response)
 * through the configured claim names. Names are taken literally, never as dotted paths, because
 * namespaced claims such as `https://example.org/team` contain dots themselves.
 */
export function toLoginContext(claims: ClaimSet, names: ClaimNames): LoginContext {
  const context: LoginContext = {
    teamId: headerSafe(requiredText(claims, names.team), names.team),
    userType: requiredText(claims, names.userType),
    user: requiredText(claims, names.user),
    scopes: scopeList(claims, names.scope),
  };
  const exp = ownClaim(claims, 'exp');
  if (exp !== undefined) {
    if (typeof exp !== 'number' || !Number.isFinite(exp)) throw loginContextNull('malformed exp claim');
    context.expiresAt = exp;
  }
  // Frozen because a cached context is shared by every request that presents the same token.
  return Object.freeze(context);
}

function ownClaim(claims: ClaimSet, name: string): unknown {
  return Object.hasOwn(claims, name) ? claims[name] : undefined;
}

function requiredText(claims: ClaimSet, name: string): string {
  const value = ownClaim(claims, name);
  if (value === undefined || value === '') throw loginContextNull(`missing ${name} claim`);
  if (!isText(value)) throw loginContextNull(`malformed ${name} claim`);
  return value;
}

function headerSafe(value: string, name: string): string {
  if (!HEADER_SAFE.test(value)) throw loginContextNull(`${name} claim is not printable ASCII`);
  return value;
}

/** RFC 8693 / RFC 7662 spell scope as one space-separated string; many providers send an array. */
function scopeList(claims: ClaimSet, name: string): readonly string[] {
  const value = ownClaim(claims, name);
  if (value === undefined) return [];
  const scopes = typeof value === 'string' ? value.split(' ').filter((s) => s !== '') : value;
  if (!Array.isArray(scopes) || !scopes.every(isText)) throw loginContextNull(`malformed ${name} claim`);
  return Object.freeze(scopes);
}

function isText(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_VALUE_LENGTH && !CONTROL_CHARACTER.test(value);
}
