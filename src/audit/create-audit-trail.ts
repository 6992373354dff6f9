import { hostname } from 'node:os';
import type { GatewayConfig } from '../config/schema.js';
import type { Logger } from '../logger.js';
import type { GatewayMetrics } from '../metrics.js';
import { AuditTrail } from './audit-trail.js';
import { FileAuditSink } from './file-sink.js';
import { PostgresAuditSink } from './postgres-sink.js';
import type { AuditSink } from './sink.js';
import { StdoutAuditSink } from './stdout-sink.js';

/** This replica's chain name: configured, else the host name (stable across restarts of one host). */
export function auditInstance(config: GatewayConfig): string {
  return config.audit.instance ?? hostname().replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 64);
}

/** Builds the configured sinks and opens the trail: chain heads are read back, torn tails trimmed. */
export async function openAuditTrail(config: GatewayConfig, metrics: GatewayMetrics, logger: Logger): Promise<AuditTrail> {
  const instance = auditInstance(config);
  const sinks: AuditSink[] = config.audit.sinks.map((sink) => {
    switch (sink.type) {
      case 'file':
        return new FileAuditSink({ path: sink.path, maxBytes: sink.maxBytes, instance, logger });
      case 'stdout':
        return new StdoutAuditSink();
      case 'postgres':
        return new PostgresAuditSink({ url: sink.url, table: sink.table, timeoutMs: sink.timeoutMs, instance, logger });
    }
  });
  const trail = new AuditTrail(sinks, { instance, metrics, logger });
  await trail.open();
  return trail;
}
