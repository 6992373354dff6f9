import type { ServerResponse } from 'node:http';
import { toErrorResponse } from '../errors.js';

export interface RenderedJson {
  status: number;
  headers: Record<string, string>;
  payload: Buffer;
}

export function renderJson(status: number, body: unknown, headers: Readonly<Record<string, string>> = {}): RenderedJson {
  const payload = Buffer.from(JSON.stringify(body));
  return {
    status,
    headers: {
      'cache-control': 'no-store',
      ...headers,
      'content-type': 'application/json; charset=utf-8',
      'content-length': String(payload.length),
    },
    payload,
  };
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Readonly<Record<string, string>> = {}): void {
  const rendered = renderJson(status, body, headers);
  res.writeHead(rendered.status, rendered.headers).end(rendered.payload);
}

/** The JSON error response for anything thrown (SPEC 2.3 error body). */
export function renderError(err: unknown, requestId: string): RenderedJson {
  const { status, body, headers } = toErrorResponse(err, requestId);
  return renderJson(status, body, headers);
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
  const { status, headers, payload } = renderError(err, requestId);
  res.writeHead(status, headers).end(payload);
}
