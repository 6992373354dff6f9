import type { GatewayConfig } from './config/schema.js';

/** What a SIGHUP may change; everything else is wired into sockets, pools, files or header sets at start-up. */
const RELOADABLE_BTG_KEYS: ReadonlySet<string> = new Set([
  'routes', 'enabledTeams', 'limits', 'signing', 'methods', 'requireReason', 'requiredUserType',
  'ttlSeconds', 'maxTtlSeconds', 'maxTokenAgeSeconds', 'clockToleranceSeconds', 'maxTokenBytes', 'maxBodyBytes',
]);
const FIXED_SECTIONS = ['server', 'admin', 'upstream', 'callerAuth', 'notify', 'store', 'logging'] as const;

export interface ReloadPlan {
  /** The config to run with: the new file's reloadable parts over the running config's fixed ones. */
  config: GatewayConfig;
  /** One note per change that needs a restart, so operators know it was not applied. */
  ignored: string[];
}

/**
 * Applies exactly the reloadable part of a new config. Fixed parts are kept from the running config
 * rather than half-applied: a renamed BTG header or identity header must change the header sets
 * built at start-up in the same instant, or a token could reach upstream unstripped.
 */
export function planReload(running: GatewayConfig, next: GatewayConfig): ReloadPlan {
  const ignored: string[] = [];
  for (const section of FIXED_SECTIONS) {
    if (!same(running[section], next[section])) ignored.push(`reload: ${section} changed; restart to apply it`);
  }
  const btg: Record<string, unknown> = { ...running.btg };
  for (const key of Object.keys(next.btg) as Array<keyof GatewayConfig['btg']>) {
    if (RELOADABLE_BTG_KEYS.has(key)) btg[key] = next.btg[key];
    else if (!same(running.btg[key], next.btg[key])) ignored.push(`reload: btg.${key} changed; restart to apply it`);
  }
  if (!same(running.audit.sinks, next.audit.sinks) || running.audit.instance !== next.audit.instance) {
    ignored.push('reload: audit sinks/instance changed; restart to apply them');
  }
  const audit = { ...running.audit, body: next.audit.body, maxCaptureBytes: next.audit.maxCaptureBytes };
  const config = Object.freeze({ ...running, btg: Object.freeze(btg), audit: Object.freeze(audit) }) as GatewayConfig;
  return { config, ignored };
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
