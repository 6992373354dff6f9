import { access } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { auditFileSet } from '../audit/audit-files.js';
import { exportFhir } from '../audit/fhir-export.js';
import { verifyPostgres } from '../audit/postgres-verify.js';
import { verifyAuditFiles, type VerifyResult } from '../audit/verify.js';
import { EXIT_FAILURE, EXIT_OK, UsageError } from './exit-codes.js';

/**
 * The files behind the paths an operator names: a current file brings its rotated predecessors
 * (`audit.jsonl` → `audit.jsonl.1`, …), so `audit verify data/audit.jsonl` checks the whole chain.
 */
export async function expandAuditPaths(paths: readonly string[]): Promise<string[]> {
  const files = new Set<string>();
  for (const path of paths) {
    try {
      await access(path);
    } catch {
      throw new UsageError(`${path}: no such audit file`);
    }
    const rotated = /\.\d+$/.test(path) || path.endsWith('.idx');
    for (const file of rotated ? [path] : await auditFileSet(path)) files.add(file);
  }
  return [...files];
}

/** `audit verify`: exit 0 when every chain is intact, 1 naming the first bad seq otherwise. */
export async function verifyCommand(paths: readonly string[], stdout: Writable): Promise<number> {
  const files = await expandAuditPaths(paths);
  return reportVerification(await verifyAuditFiles(files), `${files.length} file(s)`, stdout);
}

/** `audit verify --postgres`: the same check over the audit table, per instance or one. */
export async function verifyPostgresCommand(url: string, options: { table?: string; instance?: string }, stdout: Writable): Promise<number> {
  let result: VerifyResult;
  try {
    result = await verifyPostgres(url, options);
  } catch (err) {
    // Unreachable server, missing table, bad table name: nothing was verified.
    throw new UsageError(`cannot read the audit table: ${(err as Error).message}`);
  }
  return reportVerification(result, `table ${options.table ?? 'btg_audit'}`, stdout);
}

export function reportVerification(result: VerifyResult, what: string, stdout: Writable): number {
  if (result.ok) {
    stdout.write(`ok: ${result.records} records in ${what}, chains intact for instance(s) ${result.instances.join(', ') || '(none)'}\n`);
    for (const warning of result.warnings) stdout.write(`warning: ${warning}\n`);
    return EXIT_OK;
  }
  const where = result.file ? ` (${result.file}${result.line ? `:${result.line}` : ''})` : '';
  stdout.write(`FAILED at seq ${result.seq}: ${result.problem}: ${result.message}${where}\n`);
  return EXIT_FAILURE;
}

/** `audit export --format fhir`: FHIR R4 AuditEvent resources as NDJSON. */
export async function exportCommand(paths: readonly string[], format: string, stdout: Writable, stderr: Writable): Promise<number> {
  if (format !== 'fhir') throw new UsageError(`unknown export format ${format}; supported: fhir`);
  const written = await exportFhir(await expandAuditPaths(paths), stdout);
  stderr.write(`exported ${written} AuditEvent resource(s)\n`);
  return EXIT_OK;
}
