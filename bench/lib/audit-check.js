// "No audit, no access" at full load: every BTG request answered 200 must have its `access`
// record in the gateway's audit file set (rotated files included).
import { dist } from './dist.js';

const { auditFileSet } = await import(dist('audit/audit-files.js'));
const { readLines } = await import(dist('audit/jsonl.js'));
const { parseRecordLine } = await import(dist('audit/record-line.js'));

/** Counts records by event and outcome across the current file and its rotated predecessors. */
export async function countAuditRecords(basePath) {
  const files = await auditFileSet(basePath);
  const counts = { files: files.length, accessSuccess: 0, responseSuccess: 0, grantSuccess: 0, denied: 0, unreadable: 0 };
  for (const file of files) {
    for await (const { text } of readLines(file)) {
      const record = parseRecordLine(text);
      if (record === undefined) counts.unreadable++;
      else if (record.event === 'denied') counts.denied++;
      else if (record.outcome === 'success' && `${record.event}Success` in counts) counts[`${record.event}Success`]++;
    }
  }
  return counts;
}

/**
 * Compares the 200s the load generator saw with the durable `access` records. More records than
 * 200s is expected (requests in flight when a run stopped were audited but never counted); fewer
 * is a durability gap.
 */
export async function checkDurability(basePath, btgOk) {
  const counts = await countAuditRecords(basePath);
  const gap = Math.max(0, btgOk - counts.accessSuccess);
  return { btgOk, accessRecords: counts.accessSuccess, gap, ok: gap === 0, ...counts };
}
