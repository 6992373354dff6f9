// What a realistic gateway run needs: a caller identity provider (JWKS file), an EdDSA signing key,
// a config file per gateway instance, caller JWTs, and BTG grants issued by the gateway itself.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { dist } from './dist.js';

const { createDemoIdentityProvider } = await import(dist('demo/demo-identity.js'));
const { generateKeyFile } = await import(dist('btg/signing-keys.js'));

export const PATIENT_COUNT = 32;
const TEAMS = ['team-a', 'team-b'];
const CLINICIANS_PER_TEAM = 4;

export function patientId(i) {
  return `pat-${String(i % PATIENT_COUNT).padStart(4, '0')}`;
}

/** Identity provider, its JWKS file, the BTG signing key file and caller JWTs for every clinician. */
export async function createFixtures(dir) {
  const idp = await createDemoIdentityProvider({ alg: 'ES256' });
  const jwksPath = join(dir, 'idp-jwks.json');
  await idp.writeJwksFile(jwksPath);
  const keyPath = join(dir, 'btg-signing.jwk');
  await generateKeyFile('EdDSA', keyPath);
  const callers = [];
  for (const team of TEAMS) {
    for (let i = 1; i <= CLINICIANS_PER_TEAM; i++) {
      const sub = `dr.${team}.${i}`;
      callers.push({ sub, team, jwt: await idp.mint({ sub, team, user_type: 'CLINICIAN', expiresInSeconds: 24 * 3600 }) });
    }
  }
  return { idp, jwksPath, keyPath, callers };
}

/**
 * Writes one gateway's YAML config. Grant rate limits are off (0) so the grant case measures
 * issuance, not refusals; logging is at warn so per-request logs do not dominate.
 */
export async function writeGatewayConfig(dir, { name, fixtures, upstreamUrl, port, adminPort, store, sinks }) {
  const config = {
    server: { host: '127.0.0.1', port },
    admin: { host: '127.0.0.1', port: adminPort },
    upstream: { url: upstreamUrl, connections: 128 },
    callerAuth: {
      type: 'jwt',
      jwt: { jwksFile: fixtures.jwksPath, issuer: fixtures.idp.issuer, audience: fixtures.idp.audience, algorithms: ['ES256'] },
    },
    btg: {
      limits: { grantsPerUserPerHour: 0, grantsPerTeamPerHour: 0 },
      signing: { alg: 'EdDSA', keyFile: fixtures.keyPath },
    },
    audit: { sinks, body: 'digest', instance: `bench-${name}` },
    store,
    logging: { level: 'warn' },
  };
  const path = join(dir, `${name}.yaml`);
  await writeFile(path, stringify(config));
  return path;
}

/** Issues `count` grants through the gateway (POST /btg), spread over clinicians and patients. */
export async function issueGrants(gatewayUrl, callers, count) {
  const grants = [];
  for (let i = 0; i < count; i++) {
    const caller = callers[i % callers.length];
    const pkbId = patientId(i);
    const res = await fetch(`${gatewayUrl}/btg`, {
      method: 'POST',
      headers: { authorization: `Bearer ${caller.jwt}`, 'content-type': 'application/json' },
      body: JSON.stringify({ userId: `${caller.sub}.bench`, pkbId }),
    });
    const body = await res.json();
    if (res.status !== 200) throw new Error(`POST /btg answered ${res.status}: ${JSON.stringify(body)}`);
    grants.push({ caller, pkbId, token: body.token });
  }
  return grants;
}
