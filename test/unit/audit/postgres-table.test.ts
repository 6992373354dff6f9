import { describe, expect, it } from 'vitest';
import { PostgresAuditSink } from '../../../src/audit/postgres-sink.js';
import { indexPrefix, tableIdentifier } from '../../../src/audit/postgres-table.js';

describe('the PostgreSQL audit table name', () => {
  it.each(['btg_audit; DROP TABLE users', 'BTG_AUDIT', 'public.btg_audit', '"btg"', '1audit', '', 'a'.repeat(64)])('refuses %j before any SQL is built', (table) => {
    expect(() => tableIdentifier(table)).toThrow(/not a lower-case SQL identifier/);
    expect(() => new PostgresAuditSink({ url: 'postgres://127.0.0.1/x', table, instance: 'gw-1' })).toThrow(/not a lower-case SQL identifier/);
  });

  it('quotes a valid name, so a keyword works as a table name', () => {
    expect(tableIdentifier('user')).toBe('"user"');
  });

  it('keeps short names as index prefixes and gives long ones a distinct, bounded prefix', () => {
    expect(indexPrefix('btg_audit')).toBe('btg_audit');
    const long = ['a', 'b'].map((end) => indexPrefix(`${'x'.repeat(62)}${end}`));
    expect(long.map((prefix) => prefix.length)).toEqual([48, 48]);
    expect(long[0]).not.toBe(long[1]);
  });
});
