import { describe, expect, it } from 'vitest';
import { parseBearerToken } from '../../../src/auth/bearer.js';
import { GatewayError } from '../../../src/errors.js';

describe('parseBearerToken', () => {
  it.each(['Bearer abc.def.ghi', 'bearer abc.def.ghi', 'BEARER abc.def.ghi', 'Bearer  abc.def.ghi'])('accepts %j', (header) => {
    expect(parseBearerToken(header)).toBe('abc.def.ghi');
  });

  it('keeps base64 padding and the b64token alphabet', () => {
    expect(parseBearerToken('Bearer a-b_c~d+e/f.g==')).toBe('a-b_c~d+e/f.g==');
  });

  it.each([undefined, '', 'Bearer', 'Bearer ', 'Basic dXNlcjpwYXNz', 'Bearer a b', 'Bearer a,b', 'Token abc', 'Bearerabc', 'Bearer a=b'])(
    'refuses %j with 401 Login context is null.',
    (header) => {
      let caught: unknown;
      try {
        parseBearerToken(header);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(GatewayError);
      expect(caught).toMatchObject({ status: 401, code: 'unauthorized' });
      expect((caught as Error).message.startsWith('Login context is null. Error opening authorization request with supplied tokenHeader.')).toBe(true);
    },
  );
});
