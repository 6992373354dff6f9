import { expect } from 'vitest';
import { GatewayError } from '../../../src/errors.js';

/** The GatewayError `action` throws; fails the test if it returns or throws anything else. */
export function refusalOf(action: () => unknown): GatewayError {
  try {
    action();
  } catch (err) {
    expect(err).toBeInstanceOf(GatewayError);
    return err as GatewayError;
  }
  throw new Error('expected a GatewayError, but nothing was thrown');
}
