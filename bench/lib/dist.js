// The bench is plain JS against the built gateway (`npm run build` first; `npm run bench` does).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const GATEWAY_BIN = `${REPO_ROOT}bin/btg-gateway.js`;

/** file:// URL of a module under dist/, for dynamic import. */
export function dist(module) {
  const url = new URL(`../../dist/${module}`, import.meta.url);
  if (!existsSync(url)) throw new Error(`dist/${module} is missing: run npm run build (npm run bench does)`);
  return url.href;
}
