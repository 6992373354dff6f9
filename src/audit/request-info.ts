import type { IncomingMessage } from 'node:http';
import type { RequestContext } from '../server/request-context.js';
import type { AuditRequestInfo } from './record.js';

/** The `request` part of an audit record. Query strings are kept: they can name the patient. */
export function auditRequestInfo(req: IncomingMessage, ctx: RequestContext): AuditRequestInfo {
  const target = req.url ?? '';
  const mark = target.indexOf('?');
  const userAgent = req.headers['user-agent'];
  return {
    id: ctx.id,
    method: req.method ?? '',
    path: mark === -1 ? target : target.slice(0, mark),
    query: mark === -1 ? '' : target.slice(mark + 1),
    clientIp: ctx.client.ip,
    ...(userAgent ? { userAgent: userAgent.slice(0, 512) } : {}),
  };
}
