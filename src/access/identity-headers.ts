import type { BtgClaims } from '../btg/btg-token.js';

/**
 * Headers that could make upstream act on another method or path than the one the gateway checked
 * (method overrides, IIS/nginx-style URL rewrites). Removed from every BTG request.
 */
export const OVERRIDE_HEADERS: readonly string[] = [
  'x-http-method-override',
  'x-http-method',
  'x-method-override',
  'x-original-method',
  'x-original-url',
  'x-original-uri',
  'x-rewrite-url',
  'x-forwarded-path',
  'x-forwarded-prefix',
  'x-forwarded-uri',
];

/** `upstream.btgHeaders` templated with the verified token's `{jti} {userId} {teamId} {pkbId}`. */
export function identityHeaders(templates: Readonly<Record<string, string>>, claims: BtgClaims): Array<readonly [string, string]> {
  const values: Record<string, string> = { jti: claims.jti, userId: claims.sub, teamId: claims.team, pkbId: claims.pkbId };
  return Object.entries(templates).map(([name, template]) => [
    name,
    template.replace(/\{(jti|userId|teamId|pkbId)\}/g, (_, key: string) => values[key]!),
  ]);
}
