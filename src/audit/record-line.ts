import type { AuditRecord } from './record.js';

const HEX64 = /^[0-9a-f]{64}$/;

/**
 * A line that has the fields the chain relies on, or undefined. It does not check the hash: that is
 * the verifier's job; this only tells a record from garbage (a torn write, a stray edit).
 */
export function parseRecordLine(text: string): AuditRecord | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  return isRecordShape(value) ? value : undefined;
}

export function isRecordShape(value: unknown): value is AuditRecord {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const record = value as Record<string, unknown>;
  return (
    Number.isSafeInteger(record.seq) &&
    (record.seq as number) > 0 &&
    typeof record.hash === 'string' &&
    HEX64.test(record.hash) &&
    typeof record.prevHash === 'string' &&
    HEX64.test(record.prevHash) &&
    typeof record.instance === 'string' &&
    typeof record.id === 'string' &&
    typeof record.time === 'string' &&
    typeof record.event === 'string'
  );
}
