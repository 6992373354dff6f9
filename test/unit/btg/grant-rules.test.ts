import { describe, expect, it } from 'vitest';
import type { LoginContext } from '../../../src/auth/login-context.js';
import { authoriseGrant } from '../../../src/btg/grant-policy.js';
import { validateGrantFields } from '../../../src/btg/grant-request.js';
import { formatRemaining } from '../../../src/btg/validity.js';
import { GatewayError } from '../../../src/errors.js';

const caller = (over: Partial<LoginContext> = {}): LoginContext => ({ teamId: 'team-a', userType: 'CLINICIAN', user: 'u', scopes: [], ...over });

function refusal(fn: () => unknown): GatewayError {
  try {
    fn();
  } catch (err) {
    if (err instanceof GatewayError) return err;
    throw err;
  }
  throw new Error('expected a refusal');
}

describe('authoriseGrant', () => {
  const policy = { requiredUserType: 'CLINICIAN', enabledTeams: ['team-a'] };

  it('lets a CLINICIAN of an enabled team through', () => {
    expect(() => authoriseGrant(caller(), policy)).not.toThrow();
    expect(() => authoriseGrant(caller({ teamId: 'any' }), { ...policy, enabledTeams: ['*'] })).not.toThrow();
  });

  it("refuses other user types with the seed's message", () => {
    const err = refusal(() => authoriseGrant(caller({ userType: 'PATIENT' }), policy));
    expect([err.status, err.code]).toEqual([401, 'unauthorized']);
    expect(err.message).toBe('Method requires a user within scope(s) CLINICIAN and BTG functionality enabled but current user is of UserType PATIENT');
    expect(refusal(() => authoriseGrant(caller({ userType: 'clinician' }), policy)).status).toBe(401);
  });

  it('refuses a team without BTG, naming the team', () => {
    expect(refusal(() => authoriseGrant(caller({ teamId: 'team-z' }), policy)).message).toBe(
      'Method requires a user within scope(s) CLINICIAN and BTG functionality enabled but team team-z does not have BTG functionality enabled',
    );
  });
});

describe('validateGrantFields', () => {
  it('accepts ids of the SPEC charset and a trimmed reason', () => {
    expect(validateGrantFields({ userId: 'dr.j@x:1_-', pkbId: 'P.1', reason: '  chest pain  ' }, false)).toEqual({ userId: 'dr.j@x:1_-', pkbId: 'P.1', reason: 'chest pain' });
    expect(validateGrantFields({ userId: 'u', pkbId: 'p', reason: '   ' }, false)).toEqual({ userId: 'u', pkbId: 'p' });
  });

  it.each([
    [{ pkbId: 'p' }, 'userId is required'],
    [{ userId: '', pkbId: 'p' }, 'userId is required'],
    [{ userId: 'u' }, 'pkbId is required'],
    [{ userId: 'u'.repeat(129), pkbId: 'p' }, 'userId must be'],
    [{ userId: 'u', pkbId: 'p/1' }, 'pkbId must be'],
    [{ userId: 'u', pkbId: 'p%2F' }, 'pkbId must be'],
    [{ userId: 'u', pkbId: 'p', reason: 'r'.repeat(501) }, 'reason must be at most 500'],
    [{ userId: 'u', pkbId: 'p', reason: 'line\nbreak' }, 'reason must not contain control characters'],
  ])('refuses %j', (input, message) => {
    const err = refusal(() => validateGrantFields(input as Record<string, string>, false));
    expect([err.status, err.code]).toEqual([400, 'bad_request']);
    expect(err.message).toContain(message);
  });

  it('requires a reason when configured to', () => {
    expect(refusal(() => validateGrantFields({ userId: 'u', pkbId: 'p' }, true)).message).toBe('reason is required');
  });
});

describe('formatRemaining', () => {
  it.each([
    [1800, '00:00:30:00'],
    [0, '00:00:00:00'],
    [59, '00:00:00:59'],
    [3661, '00:01:01:01'],
    [90061, '01:01:01:01'],
    [-5, '00:00:00:00'],
  ])('%i seconds is %s', (seconds, text) => {
    expect(formatRemaining(seconds)).toBe(text);
  });
});
