import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AuditRecord } from '../../src/audit/record.js';

/** The records a test gateway wrote to its audit file (harness default path), in order. */
export function auditRecords(dir: string): AuditRecord[] {
  const file = join(dir, 'audit.jsonl');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as AuditRecord);
}

export function recordsFor(dir: string, requestId: string): AuditRecord[] {
  return auditRecords(dir).filter((r) => r.request?.id === requestId);
}
