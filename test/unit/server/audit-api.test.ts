import { describe, expect, it } from 'vitest';
import { parseHistoryQuery } from '../../../src/server/audit-api.js';

const parse = (query: string) => parseHistoryQuery(new URLSearchParams(query));

describe('parseHistoryQuery', () => {
  it('reads pkbId, since and limit with defaults', () => {
    expect(parse('pkbId=p1')).toEqual({ pkbId: 'p1', limit: 100 });
    expect(parse('pkbId=p1&since=2026-12-01T00:00:00Z&limit=5')).toEqual({ pkbId: 'p1', since: Date.UTC(2026, 11, 1), limit: 5 });
  });

  it.each(['', 'pkbId=', 'pkbId=a/b', 'pkbId=p1&pkbId=p2', 'pkbId=p1&since=soon', 'pkbId=p1&limit=0', 'pkbId=p1&limit=1001', 'pkbId=p1&limit=2.5'])(
    'refuses %j with 400',
    (query) => {
      expect(() => parse(query)).toThrow(expect.objectContaining({ status: 400, code: 'bad_request' }));
    },
  );
});
