import { describe, expect, it } from 'vitest';
import { downstreamResponseHeaders, sanitiseUpgradeHeaders, upstreamRequestHeaders } from '../../../src/http/headers.js';

describe('upstreamRequestHeaders', () => {
  const raw = [
    'Host', 'gw', 'Connection', 'keep-alive, X-Secret', 'X-Secret', '1', 'x-SECRET', '2', 'TE', 'trailers',
    'Transfer-Encoding', 'chunked', 'Expect', '100-continue', 'X-Forwarded-For', '6.6.6.6', 'Accept', 'a/b',
    'Cookie', 'c=1', 'Cookie', 'd=2', 'breaktheglass', 'tok', 'X-BTG-Team-Id', 'forged',
  ];

  it('keeps end-to-end headers in order with their casing and repeats, and adds the gateway ones last', () => {
    const out = upstreamRequestHeaders(raw, { drop: new Set(['breaktheglass', 'x-btg-team-id']), add: [['x-request-id', 'r1']] });
    expect(out).toEqual(['Accept', 'a/b', 'Cookie', 'c=1', 'Cookie', 'd=2', 'x-request-id', 'r1']);
  });

  it('drops headers named in any Connection header, case-insensitively', () => {
    const out = upstreamRequestHeaders(['Connection', 'foo', 'connection', 'BAR', 'Foo', '1', 'bar', '2', 'Baz', '3'], { drop: new Set(), add: [] });
    expect(out).toEqual(['Baz', '3']);
  });
});

describe('downstreamResponseHeaders', () => {
  it('removes hop-by-hop headers and those upstream named in Connection', () => {
    expect(
      downstreamResponseHeaders([
        'Connection', 'X-Private', 'X-Private', 'p', 'Keep-Alive', 't', 'Transfer-Encoding', 'chunked',
        'Set-Cookie', 'a', 'Set-Cookie', 'b', 'Content-Type', 'x',
      ]),
    ).toEqual(['Set-Cookie', 'a', 'Set-Cookie', 'b', 'Content-Type', 'x']);
  });
});

describe('sanitiseUpgradeHeaders', () => {
  it('keeps the handshake pair and drops the rest of the hop-by-hop and reserved headers', () => {
    const headers: Record<string, string | undefined> = {
      connection: 'Upgrade, X-Secret', upgrade: 'websocket', 'x-secret': '1', 'keep-alive': 't',
      breaktheglass: 'tok', 'sec-websocket-key': 'k', host: 'gw', forwarded: 'for=6.6.6.6', 'x-forwarded-host': 'evil',
      'x-request-id': 'client', expect: '100-continue',
    };
    sanitiseUpgradeHeaders(headers, ['Connection', 'Upgrade, X-Secret'], { drop: new Set(['breaktheglass']), add: [['X-Request-Id', 'gw-id']] });
    expect(headers).toEqual({ connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-key': 'k', host: 'gw', 'x-request-id': 'gw-id' });
  });
});
