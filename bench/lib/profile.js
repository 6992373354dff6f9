// --profile: one gateway under node --cpu-prof with one case's load (gateway-btg unless
// --profile-case says otherwise); its profile summarised by self and inclusive time.
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defineCase, measure } from './measure.js';
import { formatSummary, summariseProfile } from './profile-summary.js';
import { btgRequests, grantRequests, passthroughRequests } from './requests.js';

export const PROFILE_CASES = {
  'gateway-btg': (gateway) => btgRequests(gateway.grants),
  'gateway-passthrough': (gateway, callers) => passthroughRequests(callers),
  'gateway-grant': (gateway, callers) => grantRequests(callers),
};

export async function runProfile(env, options, resultsDir) {
  const profileDir = join(env.dir, 'cpu-prof');
  mkdirSync(profileDir, { recursive: true });
  const gateway = await env.startGateway('gateway-profiled', { nodeFlags: ['--cpu-prof', '--cpu-prof-dir', profileDir] });
  const name = options.profileCase;
  const requests = PROFILE_CASES[name](gateway, env.fixtures.callers);
  const profiled = defineCase(name, { url: gateway.url, requests, pid: gateway.child.pid });
  console.log(`profiling ${name}: ${options.warmupSeconds} s warm-up + ${options.durationSeconds} s, 50 connections`);
  const rep = await measure(profiled, options);
  console.log(`under the profiler: ${rep.rps.toFixed(0)} req/s, p99 ${rep.p99Ms} ms, ${rep.cpuUsPerReq?.toFixed(0)} µs CPU/req, errors ${rep.errors}, non2xx ${rep.non2xx}`);
  // The profile is written when the process exits; the gateway exits cleanly on SIGTERM.
  const exit = await gateway.child.stop();
  const file = readdirSync(profileDir).find((name) => name.endsWith('.cpuprofile'));
  if (!file) throw new Error(`the gateway wrote no .cpuprofile (exit ${JSON.stringify(exit)}): ${gateway.child.stderr}`);
  const text = formatSummary(summariseProfile(JSON.parse(readFileSync(join(profileDir, file), 'utf8'))));
  console.log(`\n${text}\n`);
  mkdirSync(resultsDir, { recursive: true });
  copyFileSync(join(profileDir, file), join(resultsDir, `${name}.cpuprofile`));
  writeFileSync(join(resultsDir, `profile-${name}.txt`), `${text}\n`);
  console.log(`wrote ${join(resultsDir, `${name}.cpuprofile`)} (open in Chrome DevTools or speedscope) and profile-${name}.txt`);
}
