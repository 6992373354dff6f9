import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * The metrics of SPEC section 7; names and labels are an interface. One registry per gateway so
 * several gateways in one process (tests) never share counters. Labels carry only bounded,
 * non-identifying values: never a patient, user, team, token or raw path.
 */
export interface GatewayMetrics {
  readonly registry: Registry;
  readonly grants: Counter<'outcome'>;
  readonly btgRequests: Counter<'outcome'>;
  readonly upstreamDuration: Histogram<'method' | 'status_class'>;
  readonly auditWriteDuration: Histogram;
  readonly auditRecords: Counter<'event'>;
  readonly auditFailures: Counter<'sink'>;
  readonly activeGrants: Gauge;
}

export function createMetrics(options: { collectDefaults?: boolean } = {}): GatewayMetrics {
  const registry = new Registry();
  if (options.collectDefaults !== false) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  return {
    registry,
    grants: new Counter({
      name: 'btg_grants_total',
      help: 'BTG grant requests (POST /btg) by outcome code',
      labelNames: ['outcome'],
      registers,
    }),
    btgRequests: new Counter({
      name: 'btg_requests_total',
      help: 'Proxied requests carrying a breaktheglass header, by outcome code',
      labelNames: ['outcome'],
      registers,
    }),
    upstreamDuration: new Histogram({
      name: 'btg_upstream_request_duration_seconds',
      help: 'Time from forwarding a request to receiving the upstream response headers',
      labelNames: ['method', 'status_class'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    auditWriteDuration: new Histogram({
      name: 'btg_audit_write_duration_seconds',
      help: 'Time to make one batch of audit records durable (write + fsync / commit)',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    }),
    auditRecords: new Counter({
      name: 'btg_audit_records_total',
      help: 'Audit records made durable, by event',
      labelNames: ['event'],
      registers,
    }),
    auditFailures: new Counter({
      name: 'btg_audit_failures_total',
      help: 'Failed audit batch writes, by sink type',
      labelNames: ['sink'],
      registers,
    }),
    activeGrants: new Gauge({
      name: 'btg_active_grants',
      help: 'Unexpired, unrevoked BTG grants known to this gateway',
      registers,
    }),
  };
}

/** `2xx`, `4xx`, … or `error` when no response arrived. Keeps label cardinality fixed. */
export function statusClass(status: number | undefined): string {
  return status === undefined ? 'error' : `${Math.floor(status / 100)}xx`;
}
