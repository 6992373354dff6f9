/**
 * Hop-by-hop headers (RFC 9110 section 7.6.1 plus the de-facto ones) describe one connection, not
 * the message, so a proxy never passes them on. `expect` is answered by the gateway itself (it
 * decides before asking for the body), and `host`/`x-forwarded-*`/`x-request-id` are set afresh.
 */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
]);
const REPLACED_ON_REQUEST = new Set([
  'host',
  'expect',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'x-request-id',
  'forwarded',
]);

/** Lower-cased names listed in every `Connection` header of a raw header list. */
export function connectionNamedHeaders(rawHeaders: readonly string[]): Set<string> {
  const named = new Set<string>();
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i]!.toLowerCase() !== 'connection') continue;
    for (const token of rawHeaders[i + 1]!.split(',')) {
      const name = token.trim().toLowerCase();
      if (name) named.add(name);
    }
  }
  return named;
}

export interface UpstreamHeaderOptions {
  /** Further lower-cased names to remove (identity header names, the BTG header, method overrides). */
  drop: ReadonlySet<string>;
  /** Added after everything client-supplied was filtered, so they cannot be spoofed. */
  add: ReadonlyArray<readonly [string, string]>;
}

/**
 * Builds the flat header list sent upstream from Node's `rawHeaders`, keeping order, casing and
 * repeated headers of everything that survives the filter.
 */
export function upstreamRequestHeaders(rawHeaders: readonly string[], options: UpstreamHeaderOptions): string[] {
  const named = connectionNamedHeaders(rawHeaders);
  const out: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || REPLACED_ON_REQUEST.has(lower) || named.has(lower) || options.drop.has(lower)) continue;
    out.push(name, rawHeaders[i + 1]!);
  }
  for (const [name, value] of options.add) out.push(name, value);
  return out;
}

/**
 * Upstream response headers (Node's flat raw list) minus hop-by-hop ones and those upstream named in
 * its `Connection`, still flat, so casing and repeats (`Set-Cookie`) pass through untouched.
 */
export function downstreamResponseHeaders(rawHeaders: readonly string[]): string[] {
  const named = connectionNamedHeaders(rawHeaders);
  const out: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const lower = rawHeaders[i]!.toLowerCase();
    if (HOP_BY_HOP.has(lower) || named.has(lower)) continue;
    out.push(rawHeaders[i]!, rawHeaders[i + 1]!);
  }
  return out;
}

/** Every value of a header in a flat raw list, by case-insensitive name, in order. */
export function rawHeaderValues(rawHeaders: readonly string[], name: string): string[] {
  const wanted = name.toLowerCase();
  const values: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if (rawHeaders[i]!.toLowerCase() === wanted) values.push(rawHeaders[i + 1]!);
  }
  return values;
}

/**
 * For WebSocket upgrades http-proxy copies `req.headers`, so hygiene happens on that object: the
 * same removals as for HTTP, except the `connection`/`upgrade` pair the handshake needs and `host`,
 * which http-proxy rewrites itself; then the gateway's own headers are set, as `add` does for HTTP.
 */
export function sanitiseUpgradeHeaders(
  headers: Record<string, string | string[] | undefined>,
  rawHeaders: readonly string[],
  options: UpstreamHeaderOptions,
): void {
  const named = connectionNamedHeaders(rawHeaders);
  for (const name of Object.keys(headers)) {
    const lower = name.toLowerCase();
    if (lower === 'connection' || lower === 'upgrade' || lower === 'host') continue;
    if (options.drop.has(lower) || HOP_BY_HOP.has(lower) || REPLACED_ON_REQUEST.has(lower) || named.has(lower)) delete headers[name];
  }
  headers.connection = 'Upgrade';
  for (const [name, value] of options.add) headers[name.toLowerCase()] = value;
}
