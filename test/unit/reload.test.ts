import { describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/config/load.js';
import { planReload } from '../../src/reload.js';

const config = (extra: Record<string, unknown> = {}) => validateConfig({ callerAuth: { jwt: { jwksFile: 'x' } }, ...extra }, 't', {});

describe('planReload', () => {
  it('applies what a reload may change, silently', () => {
    const next = config({ btg: { routes: [{ path: '/x/{pkbId}' }], enabledTeams: ['t'], limits: { grantsPerUserPerHour: 1 } }, audit: { body: 'capture' } });
    const plan = planReload(config(), next);
    expect(plan.ignored).toEqual([]);
    expect(plan.config.btg.routes).toEqual([{ path: '/x/{pkbId}' }]);
    expect(plan.config.btg.enabledTeams).toEqual(['t']);
    expect(plan.config.btg.limits.grantsPerUserPerHour).toBe(1);
    expect(plan.config.audit.body).toBe('capture');
  });

  it('keeps every fixed part of the running config and names each change it did not apply', () => {
    const running = config();
    const next = config({
      upstream: { timeoutMs: 1, btgHeaders: { 'X-Other': '{pkbId}' } },
      btg: { path: '/glass', header: 'x-btg', routes: [{ path: '/y/{pkbId}' }] },
      audit: { instance: 'gw-2' },
      store: { type: 'redis', url: 'redis://h' },
    });
    const plan = planReload(running, next);
    expect(plan.ignored).toEqual([
      'reload: upstream changed; restart to apply it',
      'reload: store changed; restart to apply it',
      'reload: btg.path changed; restart to apply it',
      'reload: btg.header changed; restart to apply it',
      'reload: audit sinks/instance changed; restart to apply them',
    ]);
    expect(plan.config.upstream).toEqual(running.upstream);
    expect(plan.config.btg.header).toBe('breaktheglass');
    expect(plan.config.btg.path).toBe('/btg');
    expect(plan.config.btg.routes).toEqual([{ path: '/y/{pkbId}' }]);
    expect(plan.config.store).toEqual(running.store);
    expect(plan.config.audit.instance).toBe(running.audit.instance);
  });
});
