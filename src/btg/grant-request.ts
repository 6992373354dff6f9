import type { IncomingMessage } from 'node:http';
import { GatewayError } from '../errors.js';
import { ID_RULE, isValidId } from '../identifiers.js';

export interface GrantFields {
  userId: string;
  pkbId: string;
  reason?: string;
}

const MAX_REASON = 500;
const FIELDS = ['userId', 'pkbId', 'reason'] as const;

/**
 * Reads the grant fields from the body (JSON or form) and the query string. A field given in both
 * places with different values is refused rather than guessed at.
 */
export async function readGrantInput(req: IncomingMessage, maxBytes: number): Promise<Record<string, string>> {
  const fromQuery = queryGrantFields(req);
  const body = await readBody(req, maxBytes);
  const fromBody = body.length === 0 ? {} : parseBody(body, req.headers['content-type']);
  const merged: Record<string, string> = { ...fromQuery };
  for (const [name, value] of Object.entries(fromBody)) {
    if (merged[name] !== undefined && merged[name] !== value) {
      throw new GatewayError(400, 'bad_request', `${name} is given differently in the query string and the body`);
    }
    merged[name] = value;
  }
  return merged;
}

/** The fields given in the query string alone: known before the body is read. */
export function queryGrantFields(req: IncomingMessage): Record<string, string> {
  return fieldsOf(new URLSearchParams(req.url?.split('?')[1] ?? ''), 'query string');
}

/** Pure validation of the fields, in SPEC order, with messages that say what to fix. */
export function validateGrantFields(input: Record<string, string>, requireReason: boolean): GrantFields {
  for (const name of ['userId', 'pkbId'] as const) {
    const value = input[name];
    if (value === undefined || value === '') throw new GatewayError(400, 'bad_request', `${name} is required`);
    if (!isValidId(value)) throw new GatewayError(400, 'bad_request', `${name} must be ${ID_RULE}`);
  }
  const reason = input.reason?.trim();
  if (requireReason && !reason) throw new GatewayError(400, 'bad_request', 'reason is required');
  if (reason !== undefined && reason.length > MAX_REASON) {
    throw new GatewayError(400, 'bad_request', `reason must be at most ${MAX_REASON} characters`);
  }
  if (reason !== undefined && /[\u0000-\u001f\u007f]/.test(reason)) {
    throw new GatewayError(400, 'bad_request', 'reason must not contain control characters');
  }
  return { userId: input.userId!, pkbId: input.pkbId!, ...(reason ? { reason } : {}) };
}

async function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > maxBytes) throw tooLarge(maxBytes);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw tooLarge(maxBytes);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function tooLarge(maxBytes: number): GatewayError {
  return new GatewayError(413, 'payload_too_large', `The request body exceeds ${maxBytes} bytes`, { connection: 'close' });
}

function parseBody(body: Buffer, contentType: string | undefined): Record<string, string> {
  const type = contentType?.split(';')[0]?.trim().toLowerCase();
  const text = body.toString('utf8');
  if (type === 'application/json') return fieldsOfJson(text);
  if (type === 'application/x-www-form-urlencoded') return fieldsOf(new URLSearchParams(text), 'form body');
  throw new GatewayError(415, 'bad_request', 'Send the fields as application/json, application/x-www-form-urlencoded or in the query string');
}

function fieldsOfJson(text: string): Record<string, string> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new GatewayError(400, 'bad_request', 'The body is not valid JSON');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new GatewayError(400, 'bad_request', 'The JSON body must be an object');
  }
  const fields: Record<string, string> = {};
  for (const name of FIELDS) {
    const value = (parsed as Record<string, unknown>)[name];
    if (value === undefined || value === null) continue;
    if (typeof value !== 'string') throw new GatewayError(400, 'bad_request', `${name} must be a string`);
    fields[name] = value;
  }
  return fields;
}

function fieldsOf(params: URLSearchParams, where: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const name of FIELDS) {
    const values = params.getAll(name);
    if (values.length > 1) throw new GatewayError(400, 'bad_request', `${name} is given more than once in the ${where}`);
    if (values[0] !== undefined) fields[name] = values[0];
  }
  return fields;
}
