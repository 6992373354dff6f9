import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach } from 'vitest';
import type { AuditDraft } from '../../../src/audit/record.js';

/** A fresh scratch directory for each test of the calling file, removed afterwards. */
export function useScratchDir(): () => string {
  let dir: string | undefined;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'btg-audit-'));
  });
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  return () => {
    if (!dir) throw new Error('scratch directory is only available inside a test');
    return dir;
  };
}

let counter = 0;

export function draft(overrides: Partial<AuditDraft> = {}): AuditDraft {
  counter += 1;
  return {
    id: `rec-${counter}`,
    time: new Date(Date.UTC(2026, 0, 1) + counter * 1000).toISOString(),
    instance: 'gw-1',
    event: 'access',
    outcome: 'success',
    teamId: 'team-a',
    userId: 'dr.jones',
    pkbId: 'patient-1',
    tokenId: `jti-${counter}`,
    request: { id: `req-${counter}`, method: 'GET', path: '/patients/patient-1/records', query: '', clientIp: '10.0.0.1' },
    ...overrides,
  };
}
