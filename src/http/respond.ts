import type { ServerResponse } from 'node:http';
import { toErrorResponse } from '../errors.js';

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Readonly<Record<string, string>> = {},
): void {
  const payload = Buffer.from(JSON.stringify(body));
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': payload.length,
    'cache-control': 'no-store',
  });
  res.end(payload);
}

/**
 * The one place an error becomes an HTTP response. When headers already went out (an upstream
 * died mid-body) the only honest signal left is to cut the connection, never a clean end.
 */
export function sendError(res: ServerResponse, err: unknown, requestId: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const { status, body, headers } = toErrorResponse(err, requestId);
  sendJson(res, status, body, headers);
}
