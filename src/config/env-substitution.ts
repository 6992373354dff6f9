export interface SubstitutionError {
  path: string;
  message: string;
}

const REFERENCE = /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;
const WHOLE_REFERENCE = /^\$\{[A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\}$/;

/**
 * Replaces `${VAR}` and `${VAR:-default}` in every string of a parsed YAML tree; `$$` is a literal `$`.
 * Works on parsed values, not raw text, so a secret containing `: ` or `#` cannot change the YAML's
 * shape, and a value is never re-parsed as YAML (which would cut `abc #def` to `abc` or quote a
 * secret in its error). A scalar that is exactly one reference becomes a number or boolean only when
 * its value is plainly one, so `port: ${PORT:-8080}` yields a number; one that resolves to nothing
 * (`token: ${ADMIN_TOKEN:-}`) leaves the key unset.
 */
export function substituteEnv(
  tree: unknown,
  env: Readonly<Record<string, string | undefined>>,
): { value: unknown; errors: SubstitutionError[] } {
  const errors: SubstitutionError[] = [];
  const visit = (node: unknown, path: string): unknown => {
    if (typeof node === 'string') return substituteString(node, path, env, errors);
    if (Array.isArray(node)) return node.map((item, i) => visit(item, `${path}[${i}]`));
    if (node !== null && typeof node === 'object') {
      return Object.fromEntries(
        Object.entries(node)
          .map(([key, child]) => [key, visit(child, path ? `${path}.${key}` : key)] as const)
          .filter(([, child]) => child !== undefined),
      );
    }
    return node;
  };
  return { value: visit(tree, ''), errors };
}

function substituteString(
  text: string,
  path: string,
  env: Readonly<Record<string, string | undefined>>,
  errors: SubstitutionError[],
): unknown {
  if (!text.includes('$')) return text;
  const replaced = text.replace(REFERENCE, (match, name: string | undefined, fallback: string | undefined) => {
    if (match === '$$') return '$';
    const value = env[name!];
    if (value !== undefined && value !== '') return value;
    if (fallback !== undefined) return fallback;
    errors.push({ path: path || '(root)', message: `environment variable ${name} is not set` });
    return '';
  });
  if (!WHOLE_REFERENCE.test(text)) return replaced;
  if (replaced === '') return undefined;
  return typedScalar(replaced);
}

const PLAIN_NUMBER = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?$/;

function typedScalar(value: string): string | number | boolean {
  if (PLAIN_NUMBER.test(value)) return Number(value);
  if (value === 'true' || value === 'false') return value === 'true';
  return value;
}
