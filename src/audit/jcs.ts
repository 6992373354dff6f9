/**
 * RFC 8785 JSON Canonicalization Scheme (JCS): the byte-exact form the audit hash is computed over,
 * so any verifier in any language reproduces it.
 *
 * ECMAScript already provides both hard parts: `JSON.stringify` of a number is exactly the RFC's
 * number serialisation (ES Number::toString, `-0` as `0`), and of a well-formed string exactly its
 * string escaping. Default `sort()` compares UTF-16 code units, which is the RFC's key order.
 */

export function canonicalize(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return serializeString(value);
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`JCS: ${value} is not representable in JSON`);
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object':
      if (value === null) return 'null';
      if (Array.isArray(value)) return `[${value.map(canonicalizeElement).join(',')}]`;
      return serializeObject(value as Record<string, unknown>);
    default:
      throw new TypeError(`JCS: a ${typeof value} is not a JSON value`);
  }
}

function canonicalizeElement(element: unknown): string {
  // JSON.stringify would silently turn these into null; a hash input must not change shape silently.
  if (element === undefined) throw new TypeError('JCS: undefined is not a JSON value');
  return canonicalize(element);
}

function serializeObject(object: Record<string, unknown>): string {
  const members: string[] = [];
  for (const key of Object.keys(object).sort()) {
    const member = object[key];
    if (member === undefined) continue;
    members.push(`${serializeString(key)}:${canonicalize(member)}`);
  }
  return `{${members.join(',')}}`;
}

function serializeString(text: string): string {
  // I-JSON (RFC 7493), which JCS requires, forbids lone surrogates: other implementations reject them.
  if (!text.isWellFormed()) throw new TypeError('JCS: string contains a lone UTF-16 surrogate');
  return JSON.stringify(text);
}
