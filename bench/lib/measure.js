// One measured run of one case: warm-up, then autocannon with the server's CPU and RSS metered.
import { drive } from './load.js';
import { ContentionMeter, ProcessMeter } from './proc-stats.js';

export const CONNECTIONS = 50;

/**
 * A case: `name`, `url`, `requests`, the `pid` whose process tree is metered (none for `direct`),
 * and `okSeen`, the running count of 2xx it got (warm-ups included) for the durability check.
 */
export function defineCase(name, { url, requests, pid = null, connections = CONNECTIONS }) {
  return { name, url, requests, pid, connections, okSeen: 0 };
}

export async function measure(testCase, { warmupSeconds, durationSeconds }) {
  const load = { url: testCase.url, requests: testCase.requests, connections: testCase.connections };
  if (warmupSeconds > 0) {
    const warm = await drive({ ...load, durationSeconds: warmupSeconds });
    testCase.okSeen += warm.ok2xx;
  }
  const meter = testCase.pid === null ? null : new ProcessMeter(testCase.pid);
  const contention = new ContentionMeter();
  contention.start();
  meter?.start();
  const result = await drive({ ...load, durationSeconds });
  const usage = meter?.stop();
  const otherCpuPct = contention.stop();
  testCase.okSeen += result.ok2xx;
  return {
    ...result,
    cpuUsPerReq: usage && result.responses > 0 ? (usage.cpuSeconds * 1e6) / result.responses : null,
    peakRssMb: usage ? usage.peakRssMb : null,
    otherCpuPct,
  };
}
