// Aggregating repetitions, the printed table and targets, and bench/results/latest.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

const REFERENCES = [
  ['direct', 'direct'],
  ['http-proxy', 'bare-http-proxy'],
  ['undici', 'bare-undici'],
];

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

const round = (value, digits = 1) => (value === null ? null : Number(value.toFixed(digits)));

/**
 * One case's repetitions reduced to the latest.json entry: medians of rps, latency percentiles and
 * CPU per request; sums of errors and non-2xx; the largest peak RSS.
 */
export function aggregate(repetitions) {
  const metered = repetitions.filter((r) => r.cpuUsPerReq !== null);
  return {
    rps: round(median(repetitions.map((r) => r.rps))),
    p50Ms: median(repetitions.map((r) => r.p50Ms)),
    p99Ms: median(repetitions.map((r) => r.p99Ms)),
    maxMs: Math.max(...repetitions.map((r) => r.maxMs)),
    errors: repetitions.reduce((sum, r) => sum + r.errors, 0),
    non2xx: repetitions.reduce((sum, r) => sum + r.non2xx, 0),
    cpuUsPerReq: metered.length ? round(median(metered.map((r) => r.cpuUsPerReq))) : null,
    peakRssMb: metered.length ? round(Math.max(...metered.map((r) => r.peakRssMb))) : null,
    repetitions: repetitions.map((r) => ({
      round: r.round,
      rps: round(r.rps),
      p50Ms: r.p50Ms,
      p99Ms: r.p99Ms,
      maxMs: r.maxMs,
      errors: r.errors,
      timeouts: r.timeouts,
      non2xx: r.non2xx,
      statusCodes: r.statusCodes,
      cpuUsPerReq: round(r.cpuUsPerReq),
      peakRssMb: round(r.peakRssMb),
      otherCpuPct: round(r.otherCpuPct),
    })),
  };
}

function ratio(results, name, reference) {
  const ref = results[reference];
  return ref && ref.rps > 0 ? results[name].rps / ref.rps : undefined;
}

export function formatTable(results) {
  const header = ['case', 'req/s', ...REFERENCES.map(([label]) => `×${label}`), 'p50 ms', 'p99 ms', 'max ms', 'errors', 'non2xx', 'cpu µs/req', 'peak RSS MB', 'others %', 'req/s per round'];
  const rows = Object.entries(results).map(([name, r]) => [
    name,
    r.rps.toFixed(0),
    ...REFERENCES.map(([, ref]) => ratio(results, name, ref)?.toFixed(2) ?? '-'),
    String(r.p50Ms),
    String(r.p99Ms),
    String(r.maxMs),
    String(r.errors),
    String(r.non2xx),
    r.cpuUsPerReq?.toFixed(0) ?? '-',
    r.peakRssMb?.toFixed(0) ?? '-',
    Math.max(...r.repetitions.map((rep) => rep.otherCpuPct)).toFixed(0),
    r.repetitions.map((rep) => rep.rps.toFixed(0)).join(' / '),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells) => cells.map((cell, i) => (i === 0 || i === cells.length - 1 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** The targets as PASS/MISS lines (or SKIP when a case is missing); speed never fails the process. */
export function evaluateTargets(results) {
  const targets = [];
  const throughput = (name, reference, factor) => {
    const r = ratio(results, name, reference);
    const label = `${name} rps >= ${factor}x ${reference}`;
    if (r === undefined || !results[name]) return targets.push({ label, status: 'SKIP', detail: `${reference} or ${name} not measured` });
    targets.push({ label, status: r >= factor ? 'PASS' : 'MISS', detail: `${r.toFixed(2)}x (${results[name].rps.toFixed(0)} vs ${results[reference].rps.toFixed(0)} req/s)` });
  };
  throughput('gateway-btg', 'bare-http-proxy', 1.5);
  throughput('gateway-btg', 'bare-undici', 0.75);
  throughput('gateway-passthrough', 'bare-undici', 0.9);
  const label = 'gateway-btg p99 <= 3x nginx p99';
  if (!results.nginx || !results['gateway-btg']) {
    targets.push({ label, status: 'SKIP', detail: 'nginx not measured (no nginx binary on PATH)' });
  } else {
    const limit = 3 * results.nginx.p99Ms;
    const p99 = results['gateway-btg'].p99Ms;
    targets.push({ label, status: p99 <= limit ? 'PASS' : 'MISS', detail: `${p99} ms vs 3 x ${results.nginx.p99Ms} ms` });
  }
  return targets;
}

/**
 * The largest share of the machine other processes took during any run, as a warning line. The
 * scale-out cases are left out: their Redis and PostgreSQL servers are outside the bench's process tree.
 */
export function contentionWarning(results, thresholdPct = 10) {
  const runs = Object.entries(results).filter(([name]) => name !== 'gateway-scaleout-btg' && name !== 'gateway-redis-btg');
  const worst = Math.max(...runs.flatMap(([, r]) => r.repetitions.map((rep) => rep.otherCpuPct)));
  if (worst < thresholdPct) return undefined;
  return `warning: processes outside the bench used up to ${worst.toFixed(0)}% of the machine's CPU during some runs ("others %"); those numbers are skewed`;
}

export function formatTargets(targets) {
  return targets.map((t) => `${t.status.padEnd(4)}  ${t.label}: ${t.detail}`).join('\n');
}

export function writeJson(path, data) {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(data, null, 2)}\n`);
}

/** A warning nobody scrolling past can miss. */
export function banner(lines) {
  const width = Math.max(...lines.map((l) => l.length)) + 4;
  const bar = '!'.repeat(width);
  return [bar, ...lines.map((l) => `! ${l.padEnd(width - 4)} !`), bar].join('\n');
}
