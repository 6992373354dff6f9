// --soak S: gateway-btg for S seconds with the gateway's RSS sampled throughout, to show whether
// memory stays flat under sustained load.
import { join } from 'node:path';
import { checkDurability } from './audit-check.js';
import { drive } from './load.js';
import { CONNECTIONS } from './measure.js';
import { memoryKb } from './proc-stats.js';
import { banner, median, writeJson } from './report.js';
import { btgRequests } from './requests.js';

/** Growth between the middle and last thirds above which RSS does not count as flat. */
const FLAT_TOLERANCE = { mb: 8, fraction: 0.05 };

export async function runSoak(env, options, resultsDir) {
  const seconds = options.soakSeconds;
  const gateway = await env.startGateway('gateway-soak');
  const pid = gateway.child.pid;
  const intervalMs = Math.min(5, Math.max(1, seconds / 20)) * 1000;
  const started = Date.now();
  const samples = [];
  const sample = () => samples.push({ t: Math.round((Date.now() - started) / 1000), rssMb: memoryKb(pid).rssKb / 1024 });
  sample();
  const timer = setInterval(sample, intervalMs);
  console.log(`soak: gateway-btg for ${seconds} s at ${CONNECTIONS} connections, RSS sampled every ${intervalMs / 1000} s`);
  const result = await drive({ url: gateway.url, requests: btgRequests(gateway.grants), connections: CONNECTIONS, durationSeconds: seconds });
  clearInterval(timer);
  sample();

  const summary = summariseSeries(samples);
  console.log(`load: ${result.rps.toFixed(0)} req/s, p99 ${result.p99Ms} ms, errors ${result.errors}, non2xx ${result.non2xx}`);
  console.log(formatSeries(summary));
  const durability = await checkDurability(gateway.auditPath, result.ok2xx);
  if (!durability.ok) console.log(banner([`AUDIT DURABILITY GAP: ${durability.gap} of ${durability.btgOk} BTG 200s have no access record`]));
  else console.log(`durability: OK, ${durability.btgOk} BTG 200s, ${durability.accessRecords} durable access records in ${durability.files} file(s)`);
  writeJson(join(resultsDir, 'soak.json'), { node: process.version, seconds, load: result, rss: summary, samples, durability });
  console.log(`wrote ${join(resultsDir, 'soak.json')}`);
}

/** Start (first sample under load), middle and end, and whether the last third grew beyond the middle third. */
export function summariseSeries(samples) {
  const loaded = samples.slice(1);
  const third = Math.max(1, Math.floor(loaded.length / 3));
  const middleThird = median(loaded.slice(third, 2 * third).map((s) => s.rssMb));
  const lastThird = median(loaded.slice(-third).map((s) => s.rssMb));
  const growthMb = lastThird - middleThird;
  const rss = loaded.map((s) => s.rssMb);
  return {
    beforeLoadMb: samples[0].rssMb,
    start: loaded[0],
    middle: loaded[Math.floor(loaded.length / 2)],
    end: loaded.at(-1),
    minMb: Math.min(...rss),
    maxMb: Math.max(...rss),
    middleThirdMedianMb: middleThird,
    lastThirdMedianMb: lastThird,
    flat: growthMb <= Math.max(FLAT_TOLERANCE.mb, FLAT_TOLERANCE.fraction * middleThird),
  };
}

function formatSeries(s) {
  const at = (p) => `${p.rssMb.toFixed(1)} MB at ${p.t} s`;
  return [
    `RSS before load ${s.beforeLoadMb.toFixed(1)} MB; start ${at(s.start)}; middle ${at(s.middle)}; end ${at(s.end)}`,
    `RSS min ${s.minMb.toFixed(1)} MB, max ${s.maxMb.toFixed(1)} MB; median of middle third ${s.middleThirdMedianMb.toFixed(1)} MB, of last third ${s.lastThirdMedianMb.toFixed(1)} MB`,
    s.flat
      ? 'RSS is FLAT (last third within max(8 MB, 5%) of the middle third)'
      : 'RSS is NOT FLAT: the last third grew more than max(8 MB, 5%) over the middle third',
  ].join('\n');
}
