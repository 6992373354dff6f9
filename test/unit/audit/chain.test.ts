import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { HashChain, recordHash } from '../../../src/audit/chain.js';
import { canonicalize } from '../../../src/audit/jcs.js';
import { GENESIS_HASH, type AuditRecord } from '../../../src/audit/record.js';
import { draft } from './helpers.js';

describe('recordHash', () => {
  it('matches a vector computed independently (Python json.dumps sort_keys + sha256)', () => {
    const record: Omit<AuditRecord, 'hash'> = {
      id: '3f2c9d1e-0000-4000-8000-000000000001',
      time: '2026-01-02T03:04:05.678Z',
      instance: 'gw-1',
      event: 'access',
      outcome: 'success',
      teamId: 'team-a',
      userId: 'dr.jones',
      pkbId: '9f1c',
      tokenId: 'jti-1',
      request: { id: 'req-1', method: 'GET', path: '/patients/9f1c/records', query: 'a=1', clientIp: '10.0.0.1', userAgent: 'curl/8' },
      seq: 1,
      prevHash: GENESIS_HASH,
    };
    expect(recordHash(record)).toBe('b071c593e9f55cb257f2e3d0844e7f44f2e069f597d637bb37dd95f2a82f66d6');
  });

  it('is sha256(prevHash + JCS(record without hash)), whatever hash field the record carries', () => {
    const [record] = new HashChain().link([draft()]);
    const { hash, ...rest } = record!;
    const expected = createHash('sha256').update(GENESIS_HASH + canonicalize(rest)).digest('hex');
    expect(hash).toBe(expected);
    expect(recordHash({ ...record!, hash: 'f'.repeat(64) })).toBe(expected);
  });
});

describe('HashChain', () => {
  it('links a batch after the head without moving it until advanced', () => {
    const chain = new HashChain();
    const batch = chain.link([draft(), draft(), draft()]);
    expect(batch.map((r) => r.seq)).toEqual([1, 2, 3]);
    expect(batch[0]!.prevHash).toBe(GENESIS_HASH);
    expect(batch[1]!.prevHash).toBe(batch[0]!.hash);
    expect(batch[2]!.prevHash).toBe(batch[1]!.hash);
    expect(chain.head).toEqual({ seq: 0, hash: GENESIS_HASH });

    chain.advance(batch);
    expect(chain.head).toEqual({ seq: 3, hash: batch[2]!.hash });
    const next = chain.link([draft()]);
    expect(next[0]).toMatchObject({ seq: 4, prevHash: batch[2]!.hash });
  });

  it('re-links the same drafts identically after a failed (never advanced) batch', () => {
    const chain = new HashChain();
    const drafts = [draft(), draft()];
    expect(chain.link(drafts)).toEqual(chain.link(drafts));
  });

  it('refuses to advance with a batch linked to another head', () => {
    const chain = new HashChain();
    const stale = chain.link([draft()]);
    chain.advance(chain.link([draft()]));
    expect(() => chain.advance(stale)).toThrow(/not linked to the current head/);
  });

  it('does not mutate the drafts', () => {
    const input = draft();
    const copy = structuredClone(input);
    new HashChain().link([input]);
    expect(input).toEqual(copy);
  });
});
