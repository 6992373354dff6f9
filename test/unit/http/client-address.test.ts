import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { clientAddress, compileTrustedProxies } from '../../../src/http/client-address.js';

const request = (remoteAddress: string, headers: Record<string, string> = {}): IncomingMessage =>
  ({ socket: { remoteAddress }, headers: { host: 'gw.example', ...headers } }) as unknown as IncomingMessage;

describe('clientAddress', () => {
  const trusted = compileTrustedProxies(['10.0.0.0/8', '::1']);

  it('ignores forwarding headers from an untrusted peer', () => {
    expect(clientAddress(request('::ffff:203.0.113.5', { 'x-forwarded-for': '1.2.3.4', 'x-forwarded-proto': 'https' }), trusted)).toEqual({
      ip: '203.0.113.5', forwardedFor: '203.0.113.5', forwardedProto: 'http', forwardedHost: 'gw.example',
    });
  });

  it('believes a trusted proxy and takes the nearest untrusted hop as the client', () => {
    const seen = clientAddress(request('10.1.1.1', { 'x-forwarded-for': '198.51.100.7, 10.2.2.2', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'pkb.example' }), trusted);
    expect(seen).toEqual({ ip: '198.51.100.7', forwardedFor: '198.51.100.7, 10.2.2.2, 10.1.1.1', forwardedProto: 'https', forwardedHost: 'pkb.example' });
  });

  it('drops garbage hops a trusted proxy passed along', () => {
    expect(clientAddress(request('::1', { 'x-forwarded-for': 'not-an-ip, 198.51.100.9' }), trusted).forwardedFor).toBe('198.51.100.9, ::1');
  });
});
