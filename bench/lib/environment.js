// Everything a bench mode runs against: a temp dir, the fake upstream, caller identities, and
// gateways started from dist/ with their own config, audit files and grants.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GATEWAY_BIN } from './dist.js';
import { createFixtures, issueGrants, writeGatewayConfig } from './gateway-fixtures.js';
import { freePort, startGateway, startServer } from './processes.js';

/** Distinct (caller, patient) grants the BTG load cycles through. */
const GRANTS_PER_GATEWAY = 64;

export class BenchEnvironment {
  static async start({ keep = false } = {}) {
    const env = new BenchEnvironment(mkdtempSync(join(tmpdir(), 'btg-bench-')), keep);
    try {
      env.upstream = await env.track(startServer('upstream', 'upstream.js'));
      env.fixtures = await createFixtures(env.dir);
    } catch (err) {
      await env.close();
      throw err;
    }
    return env;
  }

  constructor(dir, keep) {
    this.dir = dir;
    this.keep = keep;
    this.children = [];
  }

  async track(starting) {
    const child = await starting;
    this.children.push(child);
    return child;
  }

  /** Starts a bare reference proxy (bench/servers/<script>) in front of the upstream. */
  startProxy(name, script) {
    return this.track(startServer(name, script, [this.upstream.url]));
  }

  /**
   * Starts the real gateway with a file audit sink in the temp dir (unless `sinks` is given) and
   * issues its grants. Resolves to { name, child, url, grants, auditPath }.
   */
  async startGateway(name, { store = { type: 'memory' }, sinks, nodeFlags = [] } = {}) {
    const auditPath = join(this.dir, name, 'audit.jsonl');
    const [port, adminPort] = [await freePort(), await freePort()];
    const configPath = await writeGatewayConfig(this.dir, {
      name,
      fixtures: this.fixtures,
      upstreamUrl: this.upstream.url,
      port,
      adminPort,
      store,
      sinks: sinks ?? [{ type: 'file', path: auditPath }],
    });
    const child = await this.track(startGateway(name, { binPath: GATEWAY_BIN, configPath, port, adminPort, nodeFlags }));
    const grants = await issueGrants(child.url, this.fixtures.callers, GRANTS_PER_GATEWAY);
    return { name, child, url: child.url, grants, auditPath: sinks ? undefined : auditPath };
  }

  /** Stops every child (gateways flush their audit trail on SIGTERM) and removes the temp dir. */
  async close() {
    await Promise.all(this.children.map((child) => child.stop()));
    if (this.keep) console.log(`kept ${this.dir}`);
    else rmSync(this.dir, { recursive: true, force: true });
  }
}
