// Driving a server with autocannon's programmatic API and reducing its result to what the bench reports.
import autocannon from 'autocannon';

/**
 * One autocannon run. `requests` is a list of prebuilt requests ({method, path, headers, body})
 * that every connection cycles through, so varied tokens and ids cost the load generator nothing
 * per request.
 */
export async function drive({ url, requests, connections, durationSeconds }) {
  const result = await autocannon({
    url,
    connections,
    duration: durationSeconds,
    // autocannon stops at the first sample tick after the duration; short ticks make that exact.
    sampleInt: 100,
    requests,
    // Latency percentiles of every response, not only 2xx, so failures cannot flatter the numbers.
    excludeErrorStats: false,
  });
  return summarise(result);
}

function summarise(result) {
  const responses = result['1xx'] + result['2xx'] + result['3xx'] + result['4xx'] + result['5xx'];
  return {
    rps: result.duration > 0 ? result.requests.total / result.duration : 0,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    maxMs: result.latency.max,
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    ok2xx: result['2xx'],
    responses,
    statusCodes: Object.fromEntries(Object.entries(result.statusCodeStats).map(([code, { count }]) => [code, count])),
    durationSeconds: result.duration,
  };
}
