import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Histogram } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { ErrorCode } from '../../src/errors.js';
import { createMetrics } from '../../src/metrics.js';
import { metricFamily, promqlReferences } from '../support/promql.js';

const ALERTS_FILE = fileURLToPath(new URL('../../config/prometheus-alerts.yaml', import.meta.url));
const DASHBOARD_FILE = fileURLToPath(new URL('../../config/grafana-dashboard.json', import.meta.url));

/** Outcome label values the gateway uses (SPEC sections 2.3 and 7); typed so a misspelt one fails tsc. */
const OUTCOMES: ReadonlySet<string> = new Set([
  'success',
  'client_aborted',
  'upstream_aborted',
  'bad_request',
  'unauthorized',
  'invalid_token',
  'token_expired',
  'token_revoked',
  'team_mismatch',
  'route_not_allowed',
  'patient_mismatch',
  'patient_not_found',
  'rate_limited',
  'audit_unavailable',
  'store_unavailable',
  'upstream_unavailable',
  'upstream_timeout',
  'internal_error',
] satisfies (ErrorCode | 'success' | 'client_aborted' | 'upstream_aborted')[]);

/** Labels Prometheus attaches to every scraped series. */
const TARGET_LABELS = ['job', 'instance'];

/** Metric family → label names, as a fresh gateway exports them, plus Prometheus's own `up`. */
async function exportedFamilies(): Promise<Map<string, Set<string>>> {
  const { registry } = createMetrics();
  const families = new Map<string, Set<string>>([['up', new Set()]]);
  for (const { name } of await registry.getMetricsAsJSON()) {
    const metric = registry.getSingleMetric(name);
    // prom-client's typings do not expose labelNames, but every metric object carries them.
    const labels = (metric as unknown as { labelNames: string[] }).labelNames;
    families.set(name, new Set([...labels, ...(metric instanceof Histogram ? ['le'] : [])]));
  }
  return families;
}

const families = await exportedFamilies();
const familyNames = new Set(families.keys());

/** Everything an expression refers to that a gateway scraped by Prometheus would not have. */
function problems(expr: string): string[] {
  const refs = promqlReferences(expr);
  const found: string[] = [];
  const known = new Set(TARGET_LABELS);
  for (const metric of refs.metrics) {
    const labels = families.get(metricFamily(metric, familyNames));
    if (labels === undefined) found.push(`unknown metric ${metric}`);
    else labels.forEach((label) => known.add(label));
  }
  for (const label of [...refs.matchers.map((m) => m.label), ...refs.groupingLabels]) {
    if (!known.has(label)) found.push(`unknown label ${label}`);
  }
  for (const { value, op } of refs.matchers.filter((m) => m.label === 'outcome')) {
    const values = op.endsWith('~') ? value.split('|') : [value];
    for (const v of values.filter((v) => !OUTCOMES.has(v))) found.push(`unknown outcome ${v}`);
  }
  return found;
}

interface Rule {
  alert?: unknown;
  expr?: unknown;
  labels?: { severity?: unknown };
  annotations?: { summary?: unknown; description?: unknown };
}

interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { uid?: string };
  targets?: { expr?: string; datasource?: { uid?: string } }[];
}

const ruleFile = parse(readFileSync(ALERTS_FILE, 'utf8')) as { groups: { name: string; rules: Rule[] }[] };
const rules = ruleFile.groups.flatMap((group) => group.rules);
const dashboard = JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')) as {
  schemaVersion: number;
  __inputs: { name: string; type: string; pluginId: string }[];
  templating: { list: { name: string; type: string; query: unknown }[] };
  panels: Panel[];
};
const graphPanels = dashboard.panels.filter((panel) => panel.type !== 'row');

describe('PromQL reference extraction', () => {
  it('finds metrics and grouping labels, not functions, keywords, ranges or Grafana variables', () => {
    expect(
      promqlReferences(
        'histogram_quantile(0.99, sum by (le, status_class) (rate(btg_upstream_request_duration_seconds_bucket{job="$job"}[$__rate_interval]))) > 1e3',
      ),
    ).toEqual({
      metrics: ['btg_upstream_request_duration_seconds_bucket'],
      matchers: [{ label: 'job', op: '=', value: '$job' }],
      groupingLabels: ['le', 'status_class'],
    });
  });

  it('sees both sides of set operators and ignores offsets and string arguments', () => {
    const refs = promqlReferences(
      'sum(a_total unless b_total offset 5m) > 0 or label_replace(up, "dst", "$1", "src", "(.*)") and on (instance) c',
    );
    expect(refs.metrics).toEqual(['a_total', 'b_total', 'up', 'c']);
    expect(refs.groupingLabels).toEqual(['instance']);
  });

  it('reads regex matchers whole', () => {
    expect(promqlReferences('x{outcome=~"a|b", sink!="file"}').matchers).toEqual([
      { label: 'outcome', op: '=~', value: 'a|b' },
      { label: 'sink', op: '!=', value: 'file' },
    ]);
  });

  it('maps histogram series to their family', () => {
    expect(metricFamily('btg_audit_write_duration_seconds_bucket', familyNames)).toBe('btg_audit_write_duration_seconds');
    expect(metricFamily('btg_grants_total', familyNames)).toBe('btg_grants_total');
  });

  it('reports what the gateway does not export', () => {
    expect(problems('sum(rate(btg_grant_total[5m]))')).toEqual(['unknown metric btg_grant_total']);
    expect(problems('sum by (team) (rate(btg_grants_total{outcome="patient_mismach"}[5m]))')).toEqual([
      'unknown label team',
      'unknown outcome patient_mismach',
    ]);
    expect(problems('sum by (outcome) (rate(btg_grants_total{job="btg-gateway", outcome=~"success|rate_limited"}[5m]))')).toEqual([]);
  });
});

describe('config/prometheus-alerts.yaml', () => {
  it('is a rule file whose every rule is an alert with severity, summary and description', () => {
    expect(ruleFile.groups.length).toBeGreaterThan(0);
    for (const group of ruleFile.groups) {
      expect(group.name).toEqual(expect.any(String));
      expect(group.rules.length).toBeGreaterThan(0);
    }
    for (const rule of rules) {
      expect(rule.alert).toMatch(/^[A-Z][A-Za-z0-9]+$/);
      expect(rule.expr).toEqual(expect.stringMatching(/\S/));
      expect(rule.labels?.severity).toMatch(/^(critical|warning)$/);
      expect(rule.annotations?.summary).toEqual(expect.stringMatching(/\S/));
      expect(rule.annotations?.description).toEqual(expect.stringMatching(/\S/));
    }
    const names = rules.map((rule) => rule.alert);
    expect(new Set(names).size).toBe(names.length);
  });

  it('refers only to metrics, labels and outcomes the gateway exports', () => {
    const found = rules.flatMap((rule) => problems(String(rule.expr)).map((p) => `${String(rule.alert)}: ${p}`));
    expect(found).toEqual([]);
  });

  it('pages on a down gateway and on any audit failure', () => {
    const critical = rules.filter((rule) => rule.labels?.severity === 'critical').map((rule) => promqlReferences(String(rule.expr)).metrics);
    expect(critical).toContainEqual(['up']);
    expect(critical.some((metrics) => metrics.includes('btg_audit_failures_total'))).toBe(true);
  });

  it('watches grants, BTG requests, audit latency and the upstream', () => {
    const used = new Set(rules.flatMap((rule) => promqlReferences(String(rule.expr)).metrics.map((m) => metricFamily(m, familyNames))));
    for (const family of ['btg_grants_total', 'btg_requests_total', 'btg_audit_write_duration_seconds', 'btg_upstream_request_duration_seconds']) {
      expect(used).toContain(family);
    }
  });

  it.skipIf(!hasPromtool())('passes promtool check rules', () => {
    expect(execFileSync('promtool', ['check', 'rules', ALERTS_FILE], { encoding: 'utf8' })).toContain('SUCCESS');
  });
});

describe('config/grafana-dashboard.json', () => {
  it('takes its Prometheus data source as the DS_PROMETHEUS input and variable', () => {
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    expect(dashboard.__inputs).toContainEqual(expect.objectContaining({ name: 'DS_PROMETHEUS', type: 'datasource', pluginId: 'prometheus' }));
    expect(dashboard.templating.list).toContainEqual(expect.objectContaining({ name: 'DS_PROMETHEUS', type: 'datasource', query: 'prometheus' }));
    for (const panel of graphPanels) {
      expect(panel.datasource?.uid, panel.title).toBe('${DS_PROMETHEUS}');
      for (const target of panel.targets ?? []) expect(target.datasource?.uid, panel.title).toBe('${DS_PROMETHEUS}');
    }
  });

  it('gives every panel a query and a unique id', () => {
    for (const panel of graphPanels) {
      expect(panel.targets?.some((target) => typeof target.expr === 'string' && /\S/.test(target.expr)), panel.title).toBe(true);
    }
    const ids = dashboard.panels.map((panel) => panel.id);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('refers only to metrics, labels and outcomes the gateway exports', () => {
    const found = graphPanels.flatMap((panel) =>
      (panel.targets ?? []).flatMap((target) => problems(target.expr ?? '').map((p) => `${panel.title}: ${p}`)),
    );
    expect(found).toEqual([]);
  });

  it('shows every BTG metric and the process health', () => {
    const used = new Set(
      graphPanels.flatMap((panel) =>
        (panel.targets ?? []).flatMap((target) => promqlReferences(target.expr ?? '').metrics.map((m) => metricFamily(m, familyNames))),
      ),
    );
    const btgFamilies = [...familyNames].filter((name) => name.startsWith('btg_'));
    expect(btgFamilies).toHaveLength(8);
    for (const family of [...btgFamilies, 'process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds']) {
      expect(used).toContain(family);
    }
  });
});

function hasPromtool(): boolean {
  try {
    execFileSync('promtool', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
