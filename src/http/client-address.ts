import { BlockList, isIP } from 'node:net';
import type { IncomingMessage } from 'node:http';

export interface ClientAddress {
  /** The client as best known: the socket peer, or the nearest untrusted hop a trusted proxy reported. */
  ip: string;
  forwardedFor: string;
  forwardedProto: string;
  forwardedHost: string | undefined;
}

/**
 * Matches `server.trustedProxies` entries (addresses or CIDRs, IPv4 or IPv6, checked by the config
 * schema). None configured gives undefined, which spares every request a BlockList lookup.
 */
export function compileTrustedProxies(entries: readonly string[]): BlockList | undefined {
  if (entries.length === 0) return undefined;
  const list = new BlockList();
  for (const entry of entries) {
    const [address = '', prefix] = entry.split('/');
    const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    if (prefix === undefined) list.addAddress(address, family);
    else list.addSubnet(address, Number(prefix), family);
  }
  return list;
}

function normalise(ip: string | undefined): string {
  if (!ip) return 'unknown';
  return ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
}

function isTrusted(trusted: BlockList | undefined, ip: string): boolean {
  if (trusted === undefined) return false;
  const family = isIP(ip);
  return family !== 0 && trusted.check(ip, family === 6 ? 'ipv6' : 'ipv4');
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

/**
 * Works out who the client is and the X-Forwarded-* values to send upstream. Client-supplied
 * forwarding headers are believed only when the socket peer is a trusted proxy; otherwise they are
 * replaced, so nobody can forge their address into the audit trail.
 */
export function clientAddress(req: IncomingMessage, trusted: BlockList | undefined): ClientAddress {
  const peer = normalise(req.socket.remoteAddress);
  const host = req.headers.host;
  if (!isTrusted(trusted, peer)) {
    return { ip: peer, forwardedFor: peer, forwardedProto: 'http', forwardedHost: host };
  }
  const prior = (single(req.headers['x-forwarded-for']) ?? '')
    .split(',')
    .map((hop) => normalise(hop.trim()))
    .filter((hop) => isIP(hop) !== 0);
  const chain = [...prior, peer];
  const ip = [...chain].reverse().find((hop) => !isTrusted(trusted, hop)) ?? chain[0]!;
  const proto = single(req.headers['x-forwarded-proto'])?.split(',')[0]?.trim();
  return {
    ip,
    forwardedFor: chain.join(', '),
    forwardedProto: proto === 'https' || proto === 'http' ? proto : 'http',
    forwardedHost: single(req.headers['x-forwarded-host'])?.split(',')[0]?.trim() ?? host,
  };
}
