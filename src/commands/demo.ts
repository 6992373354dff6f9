import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyFile } from '../btg/signing-keys.js';
import { validateConfig } from '../config/load.js';
import { createDemoIdentityProvider } from '../demo/demo-identity.js';
import { DEMO_SERVICE_KEY_HEADER, startSampleUpstream } from '../demo/sample-upstream.js';
import { startGateway } from '../gateway.js';
import { createLogger } from '../logger.js';
import { EXIT_OK } from './exit-codes.js';
import { untilStopSignal } from './signals.js';

export interface DemoOptions {
  port: number;
  adminPort: number;
  upstreamPort: number;
  auditFile: string;
  logLevel: string;
  out: NodeJS.WritableStream;
}

const DEMO_TEAM = 'team-er';

/**
 * The sample upstream plus a gateway in front of it on embedded defaults, with a throwaway identity
 * provider and signing key (generated now, deleted on exit), and a guided tour printed as curl lines.
 */
export async function demo(options: DemoOptions): Promise<number> {
  const workDir = mkdtempSync(join(tmpdir(), 'btg-demo-'));
  try {
    const idp = await createDemoIdentityProvider();
    const jwksFile = join(workDir, 'demo-idp-jwks.json');
    await idp.writeJwksFile(jwksFile);
    const keyFile = join(workDir, 'btg-signing.jwk');
    await generateKeyFile('EdDSA', keyFile);
    const adminToken = randomBytes(18).toString('base64url');
    const upstream = await startSampleUpstream({ port: options.upstreamPort });
    const config = validateConfig(
      {
        server: { port: options.port },
        admin: { port: options.adminPort, token: adminToken },
        upstream: { url: upstream.url },
        callerAuth: { type: 'jwt', jwt: { jwksFile, issuer: idp.issuer, audience: idp.audience } },
        btg: {
          patientLookup: { headers: { [DEMO_SERVICE_KEY_HEADER]: upstream.serviceKey } },
          signing: { alg: 'EdDSA', keyFile },
        },
        audit: { sinks: [{ type: 'file', path: options.auditFile }], instance: 'demo' },
        logging: { level: options.logLevel },
      },
      'embedded demo config',
      {},
    );
    const gateway = await startGateway(config, { logger: createLogger(config.logging.level) });
    const tokens = {
      clinician: await idp.mint({ sub: 'dr.jones@er', team: DEMO_TEAM, user_type: 'CLINICIAN', expiresInSeconds: 12 * 3600 }),
      patient: await idp.mint({ sub: 'sam@patients', team: DEMO_TEAM, user_type: 'PATIENT', expiresInSeconds: 12 * 3600 }),
    };
    options.out.write(
      tour({
        base: `http://127.0.0.1:${gateway.mainAddress.port}`,
        admin: `http://127.0.0.1:${gateway.adminAddress.port}`,
        upstream: upstream.url,
        auditFile: options.auditFile,
        adminToken,
        ...tokens,
      }),
    );
    await untilStopSignal();
    await gateway.stop();
    await upstream.close();
    return EXIT_OK;
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
}

interface TourValues {
  base: string;
  admin: string;
  upstream: string;
  auditFile: string;
  adminToken: string;
  clinician: string;
  patient: string;
}

function tour(v: TourValues): string {
  const auth = '-H "Authorization: Bearer $CLINICIAN"';
  const grant = `curl -s -X POST ${v.base}/btg ${auth} -H 'content-type: application/json' -d '{"userId":"dr.jones","pkbId":"pat-1002","reason":"unconscious in ED"}'`;
  return `
btg-gateway demo
  gateway      ${v.base}   (in front of the sample patient API at ${v.upstream})
  admin        ${v.admin}   (/healthz /readyz /metrics /audit /grants)
  audit trail  ${v.auditFile}

Paste these into another shell (demo caller tokens, valid 12 hours, from a throwaway identity provider):
  export CLINICIAN='${v.clinician}'
  export PATIENT='${v.patient}'
  export ADMIN='${v.adminToken}'

1. An ordinary call: patient pat-1002 has not shared data with team ${DEMO_TEAM}, so upstream says 403
  curl -s ${v.base}/patients/pat-1002/records ${auth}

2. Break the glass for pat-1002 (200, "Consent levels set to BTG against patient pat-1002 ...")
  ${grant}

3. Keep the BTG token and read the patient's records with it (200, audited)
  export BTG=$(${grant} | node -pe 'JSON.parse(require("fs").readFileSync(0)).token')
  curl -s ${v.base}/patients/pat-1002/records ${auth} -H "breaktheglass: $BTG"

4. The same token for another patient is refused (403 patient_mismatch, audited as denied)
  curl -s ${v.base}/patients/pat-1001/records ${auth} -H "breaktheglass: $BTG"

5. A PATIENT login cannot break the glass (401)
  curl -s -X POST "${v.base}/btg?userId=sam&pkbId=pat-1002" -H "Authorization: Bearer $PATIENT"

6. What the patient's teams and privacy officer see, and whether the trail is intact
  curl -s "${v.admin}/audit?pkbId=pat-1002" -H "Authorization: Bearer $ADMIN"
  node bin/btg-gateway.js audit verify ${v.auditFile}

7. Revoke the token (204); it is refused from then on (401 token_revoked)
  curl -s -o /dev/null -w '%{http_code}\\n' -X DELETE ${v.base}/btg ${auth} -H "breaktheglass: $BTG"

Press Ctrl-C to stop.
`;
}
