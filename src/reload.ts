import type { GatewayConfig } from './config/schema.js';

/** Sections a reload applies; everything else is wired into sockets, pools or files at start-up. */
const RELOADABLE_BTG_KEYS = new Set(['routes', 'enabledTeams', 'limits', 'signing', 'methods', 'requireReason', 'requiredUserType', 'ttlSeconds', 'maxTtlSeconds', 'maxTokenAgeSeconds', 'clockToleranceSeconds', 'maxTokenBytes', 'maxBodyBytes']);

/** Human-readable notes on changes a SIGHUP cannot apply, so operators know to restart. */
export function reloadWarnings(before: GatewayConfig, after: GatewayConfig): string[] {
  const warnings: string[] = [];
  const fixed = ['server', 'admin', 'upstream', 'callerAuth', 'notify', 'store', 'logging'] as const;
  for (const section of fixed) {
    if (!same(before[section], after[section])) warnings.push(`reload: ${section} changed; restart to apply it`);
  }
  for (const key of Object.keys(after.btg) as Array<keyof GatewayConfig['btg']>) {
    if (!RELOADABLE_BTG_KEYS.has(key) && !same(before.btg[key], after.btg[key])) {
      warnings.push(`reload: btg.${key} changed; restart to apply it`);
    }
  }
  if (!same(before.audit.sinks, after.audit.sinks) || before.audit.instance !== after.audit.instance) {
    warnings.push('reload: audit sinks/instance changed; restart to apply them');
  }
  return warnings;
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
