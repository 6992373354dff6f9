import { describe, expect, it } from 'vitest';
import { substituteEnv } from '../../../src/config/env-substitution.js';

describe('substituteEnv', () => {
  const env = { NAME: 'gw', PORT: '8443', FLAG: 'true', EMPTY: '', WEIRD: 'a: b # c' };

  it('replaces references inside strings and keeps the rest', () => {
    expect(substituteEnv({ a: 'x-${NAME}-${MISSING:-def}' }, env)).toEqual({ value: { a: 'x-gw-def' }, errors: [] });
  });

  it('types a scalar that is exactly one reference, and never re-parses text inside a string', () => {
    const { value } = substituteEnv({ port: '${PORT}', on: '${FLAG}', text: '${WEIRD}', mixed: 'p${PORT}' }, env);
    expect(value).toEqual({ port: 8443, on: true, text: 'a: b # c', mixed: 'p8443' });
  });

  it('treats an empty variable like an unset one and drops keys that resolve to nothing', () => {
    expect(substituteEnv({ a: '${EMPTY:-fallback}', b: '${EMPTY:-}', c: 1 }, env).value).toEqual({ a: 'fallback', c: 1 });
  });

  it('keeps $$ as a literal dollar', () => {
    expect(substituteEnv({ a: 'cost $$5 ${NAME}', b: '$${NAME}' }, env).value).toEqual({ a: 'cost $5 gw', b: '${NAME}' });
  });

  it('reports every unset variable with the key path, inside arrays too', () => {
    const { errors } = substituteEnv({ list: [{ x: '${NOPE}' }], deep: { y: '${ALSO_NOPE}' } }, env);
    expect(errors).toEqual([
      { path: 'list[0].x', message: 'environment variable NOPE is not set' },
      { path: 'deep.y', message: 'environment variable ALSO_NOPE is not set' },
    ]);
  });
});

describe('substituteEnv never re-reads a value as YAML', () => {
  it.each([
    ['abc #def', 'abc #def'],
    ["'x'", "'x'"],
    ['0x10', '0x10'],
    ['007', '007'],
    ['@secret', '@secret'],
    ['[1, 2]', '[1, 2]'],
    ['{a: 1}', '{a: 1}'],
    ['%TAG', '%TAG'],
    ['`tick`', '`tick`'],
    ['null', 'null'],
    ['yes', 'yes'],
    ['-12.5', -12.5],
    ['false', false],
  ])('%j stays %j', (value, expected) => {
    expect(substituteEnv({ secret: '${SECRET}' }, { SECRET: value })).toEqual({ value: { secret: expected }, errors: [] });
  });
});
