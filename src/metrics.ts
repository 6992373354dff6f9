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
  readonly notifyFailures: Counter<'reason'>;
}

/** Outcome label values, created at zero so the first occurrence of each shows up in `increase()`. */
export const GRANT_OUTCOMES = [
  'success', 'unauthorized', 'bad_request', 'payload_too_large', 'method_not_allowed', 'rate_limited',
  'patient_not_found', 'upstream_unavailable', 'audit_unavailable', 'store_unavailable', 'internal_error',
] as const;
export const BTG_REQUEST_OUTCOMES = [
  'success', 'invalid_token', 'token_expired', 'token_revoked', 'unauthorized', 'team_mismatch',
  'route_not_allowed', 'patient_mismatch', 'bad_request', 'audit_unavailable', 'store_unavailable',
  'upstream_unavailable', 'upstream_timeout', 'client_aborted', 'upstream_aborted', 'internal_error',
] as const;
export const NOTIFY_FAILURE_REASONS = ['rejected', 'exhausted', 'overflow', 'shutdown'] as const;

export interface MetricsOptions {
  collectDefaults?: boolean;
  /** Read at scrape time for btg_active_grants. */
  countActiveGrants?: () => Promise<number>;
}

export function createMetrics(options: MetricsOptions = {}): GatewayMetrics {
  const countActiveGrants = options.countActiveGrants;
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
      ...(countActiveGrants && {
        async collect(this: Gauge) {
          this.set(await countActiveGrants().catch(() => Number.NaN));
        },
      }),
    }),
    notifyFailures: new Counter({
      name: 'btg_notify_failures_total',
      help: 'Grant/revoke notifications that could not be delivered to the webhook, by reason',
      labelNames: ['reason'],
      registers,
    }),
  };
}

/**
 * Creates every known labelled series at zero. Prometheus reads a series' first sample as its
 * start, so without this the first audit failure or patient_mismatch would never fire an alert.
 */
export function initialiseSeries(metrics: GatewayMetrics, sinkNames: readonly string[]): void {
  for (const outcome of GRANT_OUTCOMES) metrics.grants.inc({ outcome }, 0);
  for (const outcome of BTG_REQUEST_OUTCOMES) metrics.btgRequests.inc({ outcome }, 0);
  for (const reason of NOTIFY_FAILURE_REASONS) metrics.notifyFailures.inc({ reason }, 0);
  for (const sink of sinkNames) metrics.auditFailures.inc({ sink }, 0);
}

/** `2xx`, `4xx`, … or `error` when no response arrived. Keeps label cardinality fixed. */
export function statusClass(status: number | undefined): string {
  return status === undefined ? 'error' : `${Math.floor(status / 100)}xx`;
}
