import { describe, expect, it } from 'vitest';
import { toLoginContext, type ClaimNames } from '../../../src/auth/claims.js';

const defaults: ClaimNames = { team: 'team', userType: 'user_type', user: 'sub', scope: 'scope' };

describe('toLoginContext', () => {
  it('reads team, user type, user, scopes and exp through the default names', () => {
    expect(toLoginContext({ team: 't1', user_type: 'CLINICIAN', sub: 'dr.jones', scope: 'read  write', exp: 1_900_000_000 }, defaults)).toEqual({
      teamId: 't1',
      userType: 'CLINICIAN',
      user: 'dr.jones',
      scopes: ['read', 'write'],
      expiresAt: 1_900_000_000,
    });
  });

  it('accepts scope as an array and treats a missing scope as none', () => {
    expect(toLoginContext({ team: 't', user_type: 'SITE', sub: 'u', scope: ['a', 'b'] }, defaults).scopes).toEqual(['a', 'b']);
    expect(toLoginContext({ team: 't', user_type: 'SITE', sub: 'u' }, defaults).scopes).toEqual([]);
  });

  it('uses custom claim names literally, dots included', () => {
    const names: ClaimNames = { team: 'https://example.org/team', userType: 'role', user: 'preferred_username', scope: 'scp' };
    const context = toLoginContext(
      { 'https://example.org/team': 'ward-7', role: 'TEAMCOORD', preferred_username: 'coord', scp: ['btg'], sub: 'ignored', team: 'ignored' },
      names,
    );
    expect(context).toMatchObject({ teamId: 'ward-7', userType: 'TEAMCOORD', user: 'coord', scopes: ['btg'] });
  });

  it.each([
    [{ user_type: 'CLINICIAN', sub: 'u' }, 'missing team claim'],
    [{ team: 't', sub: 'u' }, 'missing user_type claim'],
    [{ team: 't', user_type: 'CLINICIAN' }, 'missing sub claim'],
    [{ team: '', user_type: 'CLINICIAN', sub: 'u' }, 'missing team claim'],
    [{ team: ['t'], user_type: 'CLINICIAN', sub: 'u' }, 'malformed team claim'],
    [{ team: 't\r\nX-Injected: 1', user_type: 'CLINICIAN', sub: 'u' }, 'malformed team claim'],
    [{ team: 'équipe-7', user_type: 'CLINICIAN', sub: 'u' }, 'team claim is not printable ASCII'],
    [{ team: ' padded ', user_type: 'CLINICIAN', sub: 'u' }, 'team claim is not printable ASCII'],
    [{ team: 't', user_type: 'CLINICIAN', sub: 'u', scope: [1] }, 'malformed scope claim'],
    [{ team: 't', user_type: 'CLINICIAN', sub: 'u', exp: '1900000000' }, 'malformed exp claim'],
  ])('refuses %j with 401 (%s)', (claims, reason) => {
    expect(() => toLoginContext(claims, defaults)).toThrow(
      expect.objectContaining({
        status: 401,
        code: 'unauthorized',
        message: `Login context is null. Error opening authorization request with supplied tokenHeader. (${reason})`,
      }),
    );
  });

  it('does not read claims from the prototype chain', () => {
    const names: ClaimNames = { ...defaults, team: 'constructor' };
    expect(() => toLoginContext({ user_type: 'CLINICIAN', sub: 'u' }, names)).toThrow(/missing constructor claim/);
  });
});
