import { describe, expect, it } from 'vitest';
import { identityHeaders } from '../../../src/access/identity-headers.js';
import type { BtgClaims } from '../../../src/btg/btg-token.js';

describe('identityHeaders', () => {
  it('fills the templates from the verified claims only', () => {
    const claims = { jti: 'j1', sub: 'dr.x', team: 't1', pkbId: 'p1' } as BtgClaims;
    expect(identityHeaders({ 'X-BTG': '{teamId}/{userId}/{pkbId}/{jti}', 'X-Static': 'btg', 'X-Other': '{unknown}' }, claims)).toEqual([
      ['X-BTG', 't1/dr.x/p1/j1'],
      ['X-Static', 'btg'],
      ['X-Other', '{unknown}'],
    ]);
  });
});
