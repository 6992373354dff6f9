import { describe, expect, it } from 'vitest';
import { isValidId } from '../../src/identifiers.js';

describe('isValidId', () => {
  it.each(['p1', 'a.b', 'x:y@z', 'A-Z_0', '.a', 'a..', 'x'.repeat(128)])('%s is an id', (id) => {
    expect(isValidId(id)).toBe(true);
  });
  it.each(['', '.', '..', '...', 'a/b', 'a b', 'a,b', 'a%b', 'é', 'x'.repeat(129), 'a\n'])('%j is not', (id) => {
    expect(isValidId(id)).toBe(false);
  });
});
