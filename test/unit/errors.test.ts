import { describe, expect, it } from 'vitest';
import { GatewayError, toErrorResponse } from '../../src/errors.js';

describe('toErrorResponse', () => {
  it('renders a client error with its status, stable code, message and request id', () => {
    const err = new GatewayError(429, 'rate_limited', 'Too many BTG grants', { 'retry-after': '60' });
    expect(toErrorResponse(err, 'req-1')).toEqual({
      status: 429,
      body: { error: 'rate_limited', message: 'Too many BTG grants', requestId: 'req-1' },
      headers: { 'retry-after': '60' },
    });
  });

  it('replaces 5xx messages with fixed texts so internals never leak', () => {
    const err = new GatewayError(502, 'upstream_unavailable', 'connect ECONNREFUSED 10.0.0.7:5432');
    const { status, body } = toErrorResponse(err, 'r');
    expect(status).toBe(502);
    expect(body.error).toBe('upstream_unavailable');
    expect(body.message).not.toContain('10.0.0.7');
  });

  it('turns anything else into a generic 500 without a stack trace', () => {
    const { status, body } = toErrorResponse(new TypeError('x is undefined at foo.ts:12'), 'r');
    expect(status).toBe(500);
    expect(body).toEqual({ error: 'internal_error', message: expect.any(String), requestId: 'r' });
    expect(JSON.stringify(body)).not.toMatch(/foo\.ts|undefined/);
  });
});
