/** SPEC section 8: 0 ok, 1 a failure was found (e.g. a broken audit chain), 2 usage or configuration error. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** Thrown by commands for a usage/config problem; the CLI prints the message and exits 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}
