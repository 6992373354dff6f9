/**
 * RFC 8785 JSON Canonicalization Scheme (JCS): the byte-exact form the audit hash is computed over,
 * so any verifier in any language reproduces it.
 *
 * ECMAScript already provides the hard parts: `JSON.stringify` of a number is exactly the RFC's
 * number serialisation (ES Number::toString, `-0` as `0`), and of a well-formed string exactly its
 * string escaping; default `sort()` compares UTF-16 code units, which is the RFC's key order. So the
 * canonical form is native `JSON.stringify` of a copy whose keys were inserted in sorted order:
 * about twice as fast as assembling the text member by member, and this runs for every audit record.
 * The exception is integer-like keys ("10", "9"), which JavaScript always enumerates numerically;
 * a value holding any is assembled member by member instead.
 */
export function canonicalize(value: unknown): string {
  const state = { integerKeys: false };
  const copy = sortedCopy(value, state);
  return state.integerKeys ? assemble(value) : JSON.stringify(copy);
}

const INTEGER_KEY = /^(?:0|[1-9][0-9]*)$/;

/** A copy with every object's keys in JCS order; refuses what JSON.stringify would silently change. */
function sortedCopy(value: unknown, state: { integerKeys: boolean }): unknown {
  switch (typeof value) {
    case 'string':
      // I-JSON (RFC 7493), which JCS requires, forbids lone surrogates: other implementations reject them.
      if (!value.isWellFormed()) throw new TypeError('JCS: string contains a lone UTF-16 surrogate');
      return value;
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`JCS: ${value} is not representable in JSON`);
      return value;
    case 'boolean':
      return value;
    case 'object': {
      if (value === null) return null;
      if (Array.isArray(value)) {
        return value.map((element: unknown) => {
          // JSON.stringify would turn these into null; a hash input must not change shape silently.
          if (element === undefined) throw new TypeError('JCS: undefined is not a JSON value');
          return sortedCopy(element, state);
        });
      }
      if (typeof (value as { toJSON?: unknown }).toJSON === 'function') throw new TypeError('JCS: objects with toJSON are not plain JSON');
      const copy: Record<string, unknown> = {};
      for (const key of Object.keys(value).sort()) {
        const member = (value as Record<string, unknown>)[key];
        if (member === undefined) continue;
        if (!key.isWellFormed()) throw new TypeError('JCS: key contains a lone UTF-16 surrogate');
        if (startsWithDigit(key) && INTEGER_KEY.test(key)) state.integerKeys = true;
        copy[key] = sortedCopy(member, state);
      }
      return copy;
    }
    default:
      throw new TypeError(`JCS: a ${typeof value} is not a JSON value`);
  }
}

function startsWithDigit(key: string): boolean {
  const code = key.charCodeAt(0);
  return code >= 48 && code <= 57;
}

/** Member-by-member assembly, for values already checked by sortedCopy. */
function assemble(value: unknown): string {
  if (typeof value !== 'object' || value === null) return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(assemble).join(',')}]`;
  const members: string[] = [];
  for (const key of Object.keys(value).sort()) {
    const member = (value as Record<string, unknown>)[key];
    if (member !== undefined) members.push(`${JSON.stringify(key)}:${assemble(member)}`);
  }
  return `{${members.join(',')}}`;
}
