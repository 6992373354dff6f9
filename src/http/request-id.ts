import { randomUUID } from 'node:crypto';

const SANE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Keeps a client's X-Request-Id when it is a sane token (so traces join up), else mints one. */
export function requestIdFor(clientValue: string | string[] | undefined): string {
  return typeof clientValue === 'string' && SANE_ID.test(clientValue) ? clientValue : randomUUID();
}
