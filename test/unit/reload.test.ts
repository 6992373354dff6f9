import { describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/config/load.js';
import { reloadWarnings } from '../../src/reload.js';

const config = (extra: Record<string, unknown> = {}) => validateConfig({ callerAuth: { jwt: { jwksFile: 'x' } }, ...extra }, 't', {});

describe('reloadWarnings', () => {
  it('is silent for what a reload applies', () => {
    expect(reloadWarnings(config(), config({ btg: { routes: [{ path: '/x/{pkbId}' }], enabledTeams: ['t'], limits: { grantsPerUserPerHour: 1 } }, audit: { body: 'capture' } }))).toEqual([]);
  });

  it('names every changed section that needs a restart', () => {
    expect(
      reloadWarnings(config(), config({ upstream: { timeoutMs: 1 }, btg: { path: '/glass' }, audit: { instance: 'gw-2' }, store: { type: 'redis', url: 'redis://h' } })),
    ).toEqual([
      'reload: upstream changed; restart to apply it',
      'reload: store changed; restart to apply it',
      'reload: btg.path changed; restart to apply it',
      'reload: audit sinks/instance changed; restart to apply them',
    ]);
  });
});
