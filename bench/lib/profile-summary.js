// Summarises a V8 .cpuprofile (from node --cpu-prof) by self time: samples are attributed to the
// node that was on top of the stack, grouped by function name and source location.
// Standalone: node bench/lib/profile-summary.js <file.cpuprofile> [top]
import { readFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { REPO_ROOT } from './dist.js';

const ROOT_URL = pathToFileURL(REPO_ROOT).href;

/** Where a frame's code lives, for a coarse breakdown: gateway, an npm package, node internals, or V8 itself. */
function origin(url, functionName) {
  if (url === '') return functionName.startsWith('(') ? functionName : '(native)';
  if (url.startsWith('node:')) return 'node core';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1];
  if (url.startsWith(`${ROOT_URL}dist/`)) return 'gateway (dist)';
  return 'other';
}

function shortUrl(url) {
  return url.replace(ROOT_URL, '').replace(/^.*node_modules\//, '');
}

function frameKey({ functionName, url, lineNumber }) {
  const name = functionName || '(anonymous)';
  const location = url ? `${shortUrl(url)}:${lineNumber + 1}` : '';
  return { key: `${name} ${location}`, name, location };
}

/**
 * Self time per function and per origin, and inclusive time per function (samples where it is
 * anywhere on the stack, counted once per sample), each largest first.
 */
export function summariseProfile(profile) {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parentOf = new Map();
  for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id);
  const self = new Map();
  const inclusive = new Map();
  const origins = new Map();
  let totalUs = 0;
  const add = (map, key, fields, us) => {
    const entry = map.get(key) ?? { ...fields, selfUs: 0, samples: 0 };
    entry.selfUs += us;
    entry.samples += 1;
    map.set(key, entry);
  };
  profile.samples.forEach((id, i) => {
    const { callFrame } = byId.get(id);
    const frame = frameKey(callFrame);
    const us = profile.timeDeltas[i] ?? 0;
    totalUs += us;
    add(self, frame.key, frame, us);
    const where = origin(callFrame.url, frame.name);
    add(origins, where, { name: where }, us);
    const seen = new Set();
    for (let at = id; at !== undefined; at = parentOf.get(at)) {
      const onStack = frameKey(byId.get(at).callFrame);
      if (seen.has(onStack.key)) continue;
      seen.add(onStack.key);
      add(inclusive, onStack.key, onStack, us);
    }
  });
  const ranked = (map) => [...map.values()].sort((a, b) => b.samples - a.samples);
  return {
    totalSamples: profile.samples.length,
    totalMs: totalUs / 1000,
    functions: ranked(self),
    inclusive: ranked(inclusive).filter((f) => f.location.startsWith('dist/')),
    origins: ranked(origins),
  };
}

export function formatSummary(summary, top = 25) {
  const pct = (samples) => `${((100 * samples) / summary.totalSamples).toFixed(1).padStart(5)}%`;
  const lines = [`${summary.totalSamples} samples over ${(summary.totalMs / 1000).toFixed(1)} s`, '', `top ${top} functions by self time:`];
  for (const f of summary.functions.slice(0, top)) {
    lines.push(`  ${pct(f.samples)}  ${(f.selfUs / 1000).toFixed(0).padStart(7)} ms  ${f.name}  ${f.location}`);
  }
  lines.push('', 'gateway functions by inclusive time (anywhere on the stack):');
  for (const f of summary.inclusive.slice(0, 15)) lines.push(`  ${pct(f.samples)}  ${f.name}  ${f.location}`);
  lines.push('', 'self time by origin:');
  for (const o of summary.origins.slice(0, 15)) lines.push(`  ${pct(o.samples)}  ${o.name}`);
  return lines.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [file, top] = process.argv.slice(2);
  if (!file) {
    console.error('usage: node bench/lib/profile-summary.js <file.cpuprofile> [top]');
    process.exit(2);
  }
  console.log(formatSummary(summariseProfile(JSON.parse(readFileSync(file, 'utf8'))), Number(top ?? 25)));
}
