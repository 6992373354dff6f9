import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configJsonSchema } from '../../../src/config/json-schema.js';
import { ConfigError, loadConfigFile, parseConfigText } from '../../../src/config/load.js';

const ROOT = join(import.meta.dirname, '../../..');
const MINIMAL = 'callerAuth:\n  jwt:\n    jwksFile: ./jwks.json\n';

function problemsOf(text: string, env: Record<string, string> = {}): readonly string[] {
  try {
    parseConfigText(text, 'test.yaml', env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected the config to be rejected');
}

describe('config loading', () => {
  it('loads the example file, filling defaults', () => {
    const config = loadConfigFile(join(ROOT, 'gateway.example.yaml'), {});
    expect(config.server.port).toBe(8080);
    expect(config.btg.ttlSeconds).toBe(1800);
    expect(config.btg.routes).toEqual([{ path: '/patients/{pkbId}/**' }, { path: '/fhir/Observation', query: 'patient' }]);
    expect(config.admin.token).toBeUndefined();
  });

  it('fills every section from defaults when only callerAuth is given, and freezes the result', () => {
    const config = parseConfigText(MINIMAL, 'min.yaml', {});
    expect(config.upstream.timeoutMs).toBe(30_000);
    expect(config.btg.limits).toEqual({ grantsPerUserPerHour: 30, grantsPerTeamPerHour: 300 });
    expect(config.store).toEqual({ type: 'memory', maxEntries: 100_000 });
    expect(config.audit.sinks[0]).toMatchObject({ type: 'file', path: './data/audit.jsonl' });
    expect(Object.isFrozen(config.btg.routes[0])).toBe(true);
    expect(() => {
      (config.server as { port: number }).port = 1;
    }).toThrow(TypeError);
  });

  it('substitutes environment variables with types and defaults', () => {
    const config = parseConfigText(
      `${MINIMAL}server:\n  port: \${PORT}\n  host: \${HOST:-0.0.0.0}\nadmin:\n  token: \${ADMIN_TOKEN:-}\nupstream:\n  url: http://\${UP_HOST}:81/api\n`,
      'env.yaml',
      { PORT: '9443', UP_HOST: 'pkb.internal' },
    );
    expect(config.server.port).toBe(9443);
    expect(config.server.host).toBe('0.0.0.0');
    expect(config.admin.token).toBeUndefined();
    expect(config.upstream.url).toBe('http://pkb.internal:81/api');
  });

  it('reports each kind of problem with its key path, all at once', () => {
    const problems = problemsOf(
      [
        'callerAuth: {type: introspection}',
        'upstream:',
        '  timeoutMs: "30s"',
        '  colour: blue',
        'server:',
        '  port: ${MISSING_PORT}',
        'btg:',
        '  ttlSeconds: 3600',
        '  routes: [{path: patients}]',
        '  signing: {alg: RS256}',
        'audit: {sinks: [{type: carrier-pigeon}]}',
        'store: {type: redis}',
      ].join('\n'),
    );
    expect(problems).toEqual(
      expect.arrayContaining([
        'server.port: environment variable MISSING_PORT is not set',
        'upstream.timeoutMs: expected number',
        'upstream.colour: unknown key',
        'callerAuth.introspection: required when callerAuth.type is introspection',
        'btg.routes[0].path: expected a path starting with /',
        expect.stringMatching(/^btg\.signing\.alg: expected one of/),
        expect.stringMatching(/^audit\.sinks\[0\]\.type: /),
        'store.url: required (expected string)',
      ]),
    );
  });

  it('refuses a token lifetime above the hard maximum unless the maximum is raised', () => {
    expect(problemsOf(`${MINIMAL}btg:\n  ttlSeconds: 3600\n`)).toEqual(['btg.ttlSeconds: must not exceed btg.maxTtlSeconds']);
    expect(parseConfigText(`${MINIMAL}btg:\n  ttlSeconds: 3600\n  maxTtlSeconds: 3600\n`, 'x', {}).btg.ttlSeconds).toBe(3600);
  });

  it('refuses unknown top-level keys, YAML syntax errors and duplicate keys', () => {
    expect(problemsOf(`${MINIMAL}severs: {}\n`)).toEqual(['severs: unknown key']);
    expect(problemsOf(`${MINIMAL}server: [\n`)[0]).toMatch(/^YAML: /);
    expect(problemsOf(`${MINIMAL}server: {}\nserver: {}\n`)[0]).toMatch(/^YAML: .*unique/i);
  });

  it('refuses trusted proxies that are not addresses or CIDRs', () => {
    expect(problemsOf(`${MINIMAL}server:\n  trustedProxies: [10.0.0.0/8, ::1, localhost, 10.0.0.0/33, 1.2.3.4/8/1]\n`)).toEqual([
      'server.trustedProxies[2]: expected an IP address or CIDR',
      'server.trustedProxies[3]: expected an IP address or CIDR',
      'server.trustedProxies[4]: expected an IP address or CIDR',
    ]);
  });

  it('requires callerAuth', () => {
    expect(problemsOf('server: {port: 1}\n')).toEqual(['callerAuth: required (expected object)']);
  });

  it('keeps config/gateway.schema.json in step with the validation schema (run `npm run schema`)', () => {
    const committed = JSON.parse(readFileSync(join(ROOT, 'config/gateway.schema.json'), 'utf8')) as unknown;
    expect(committed).toEqual(JSON.parse(JSON.stringify(configJsonSchema())));
  });
});
