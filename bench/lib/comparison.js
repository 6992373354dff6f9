// The default mode: every case, interleaved round-robin, then the table, targets, durability
// check and bench/results/latest.json.
import { checkDurability } from './audit-check.js';
import { describeMachine, machine } from './machine.js';
import { CONNECTIONS, defineCase, measure } from './measure.js';
import { nginxBinary, startNginxProxy } from './nginx.js';
import { aggregate, banner, contentionWarning, evaluateTargets, formatTable, formatTargets, writeJson } from './report.js';
import { btgRequests, grantRequests, passthroughRequests } from './requests.js';
import { countPostgresAccess, dropTable, POSTGRES_URL, scaleoutSettings, scaleoutUnavailable } from './scaleout.js';
import { sleep } from './processes.js';

const SETTLE_MS = 200;
/**
 * The memory store refuses new grants (503, fail closed) once `maxEntries` are unexpired; its
 * default 100 000 lasts ~20 s of gateway-grant, so that case gets its own gateway with room for
 * about 200 s of it. Its LRUs preallocate every slot, so this also sets that gateway's RSS floor.
 */
const GRANT_LOAD_STORE = { type: 'memory', maxEntries: 1_000_000 };
const REFERENCE_PROXIES = [
  ['bare-http-proxy', 'bare-http-proxy.js'],
  ['bare-undici', 'bare-undici.js'],
  ['bare-fastify', 'bare-fastify.js'],
];

export async function runComparison(env, options, resultsPath) {
  const notes = [];
  const note = (text) => {
    notes.push(text);
    console.log(`note: ${text}`);
  };
  const { cases, gateway, scaleout } = await startCases(env, options, note);
  const m = machine();
  console.log(`\n${describeMachine(m)}`);
  console.log(`${options.rounds} rounds x ${cases.length} cases, ${options.warmupSeconds} s warm-up + ${options.durationSeconds} s measured, ${CONNECTIONS} connections\n`);
  const results = await runRounds(cases, options);

  console.log(`\n${formatTable(results)}\n`);
  const contention = contentionWarning(results);
  if (contention) note(contention);
  const targets = evaluateTargets(results);
  console.log(`targets:\n${formatTargets(targets)}\n`);
  const durability = await checkAllDurability(gateway, scaleout);

  writeJson(resultsPath, {
    node: m.node,
    cpus: m.cpus,
    results,
    machine: m,
    mode: { quick: options.quick, rounds: options.rounds, warmupSeconds: options.warmupSeconds, durationSeconds: options.durationSeconds, connections: CONNECTIONS },
    targets,
    durability,
    notes,
    measuredAt: new Date().toISOString(),
  });
  console.log(`wrote ${resultsPath}`);
}

/** Starts every server under test and defines the cases in the order each round runs them. */
async function startCases(env, options, note) {
  const passthrough = passthroughRequests(env.fixtures.callers);
  const cases = [defineCase('direct', { url: env.upstream.url, requests: passthrough })];
  for (const [name, script] of REFERENCE_PROXIES) {
    const proxy = await env.startProxy(name, script);
    cases.push(defineCase(name, { url: proxy.url, requests: passthrough, pid: proxy.pid }));
  }
  const nginx = nginxBinary();
  if (nginx) {
    const proxy = await env.track(startNginxProxy(nginx, env.dir, env.upstream.port));
    cases.push(defineCase('nginx', { url: proxy.url, requests: passthrough, pid: proxy.pid }));
  } else {
    note('nginx: NOT MEASURED, no nginx binary on PATH (the nginx case and the p99 target are skipped)');
  }
  const gateway = await env.startGateway('gateway');
  const on = { url: gateway.url, pid: gateway.child.pid };
  gateway.case = defineCase('gateway-btg', { ...on, requests: btgRequests(gateway.grants) });
  const granting = await env.startGateway('gateway-grants', { store: GRANT_LOAD_STORE });
  cases.push(
    defineCase('gateway-passthrough', { ...on, requests: passthrough }),
    gateway.case,
    defineCase('gateway-grant', { url: granting.url, pid: granting.child.pid, requests: grantRequests(env.fixtures.callers) }),
  );
  const scaleout = options.withScaleout ? await startScaleout(env, note) : undefined;
  if (scaleout) {
    // Redis store with the file sink: isolates what reading revocations from Redis on every BTG
    // request costs, which is the measurement behind keeping per-request reads (no local cache).
    scaleout.redisOnly.case = defineCase('gateway-redis-btg', { url: scaleout.redisOnly.url, pid: scaleout.redisOnly.child.pid, requests: btgRequests(scaleout.redisOnly.grants) });
    scaleout.case = defineCase('gateway-scaleout-btg', { url: scaleout.url, pid: scaleout.child.pid, requests: btgRequests(scaleout.grants) });
    cases.push(scaleout.redisOnly.case, scaleout.case);
  }
  return { cases, gateway, scaleout };
}

/** Every case once per round, round after round, so drift of the machine shows across rounds. */
async function runRounds(cases, options) {
  const repetitions = new Map(cases.map((c) => [c.name, []]));
  for (let round = 1; round <= options.rounds; round++) {
    for (const testCase of cases) {
      const rep = { round, ...(await measure(testCase, options)) };
      repetitions.get(testCase.name).push(rep);
      console.log(progressLine(round, options.rounds, testCase.name, rep));
      await sleep(SETTLE_MS);
    }
  }
  return Object.fromEntries([...repetitions].map(([name, reps]) => [name, aggregate(reps)]));
}

async function checkAllDurability(gateway, scaleout) {
  const durability = { gateway: await checkDurability(gateway.auditPath, gateway.case.okSeen) };
  reportDurability('gateway-btg', durability.gateway);
  if (scaleout) {
    durability.redis = await checkDurability(scaleout.redisOnly.auditPath, scaleout.redisOnly.case.okSeen);
    reportDurability('gateway-redis-btg', durability.redis);
    durability.scaleout = scaleoutDurability(scaleout);
    reportDurability('gateway-scaleout-btg', durability.scaleout);
    dropTable(scaleout.table);
  }
  return durability;
}

async function startScaleout(env, note) {
  const unavailable = await scaleoutUnavailable();
  if (unavailable) {
    note(`gateway-scaleout-btg: SKIPPED, ${unavailable}`);
    return undefined;
  }
  const { table, store } = scaleoutSettings();
  try {
    const gateway = await env.startGateway('gateway-scaleout', { store, sinks: [{ type: 'postgres', url: POSTGRES_URL, table }] });
    const redisOnly = await env.startGateway('gateway-redis', { store: scaleoutSettings().store });
    return { ...gateway, table, redisOnly };
  } catch (err) {
    const reason = err.message.split('\n').find((line) => /postgres|redis|audit|store|invalid/i.test(line)) ?? err.message.split('\n')[0];
    note(`gateway-scaleout-btg: SKIPPED, the gateway did not start with a Redis store and a postgres sink: ${reason.trim()}`);
    dropTable(table);
    return undefined;
  }
}

function scaleoutDurability(scaleout) {
  const counted = countPostgresAccess(scaleout.table);
  const btgOk = scaleout.case.okSeen;
  if (counted.error) return { btgOk, accessRecords: null, gap: null, ok: null, error: `not checked: ${counted.error}` };
  const accessRecords = Number(counted.value);
  const gap = Math.max(0, btgOk - accessRecords);
  return { btgOk, accessRecords, gap, ok: gap === 0 };
}

function reportDurability(name, check) {
  if (check.ok === null) {
    console.log(`durability (${name}): ${check.error}`);
  } else if (check.ok) {
    console.log(`durability (${name}): OK, ${check.btgOk} BTG 200s, ${check.accessRecords} durable access records${check.files ? ` in ${check.files} file(s)` : ''}`);
  } else {
    console.log(
      banner([
        `AUDIT DURABILITY GAP (${name})`,
        `${check.btgOk} BTG requests got a 200 but only ${check.accessRecords} access records exist:`,
        `${check.gap} answered requests have no durable access record.`,
      ]),
    );
  }
}

function progressLine(round, rounds, name, rep) {
  const cpu = rep.cpuUsPerReq === null ? '' : `  cpu ${rep.cpuUsPerReq.toFixed(0)} µs/req  rss ${rep.peakRssMb.toFixed(0)} MB`;
  const failures = rep.errors + rep.non2xx ? `  errors ${rep.errors} non2xx ${rep.non2xx} ${JSON.stringify(rep.statusCodes)}` : '';
  const others = rep.otherCpuPct >= 1 ? `  [others used ${rep.otherCpuPct.toFixed(0)}% of the machine]` : '';
  return `[${round}/${rounds}] ${name.padEnd(22)} ${rep.rps.toFixed(0).padStart(6)} req/s  p50 ${rep.p50Ms} ms  p99 ${rep.p99Ms} ms${cpu}${failures}${others}`;
}
