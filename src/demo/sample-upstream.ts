import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A small PKB-style patient API for `btg-gateway demo`. Like the real one it knows nothing of BTG:
 * it lets a team read a patient who shared data with that team, and trusts the gateway's
 * X-BTG-* identity headers (which only the gateway can set) for everything else.
 * It reads the team from the bearer token without verifying it: this is a demo, not an IdP.
 */

interface DemoPatient {
  pkbId: string;
  name: string;
  birthDate: string;
  sharedWithTeams: string[];
  records: { id: string; type: string; date: string; text: string }[];
  observations: { code: string; display: string; value: number; unit: string; date: string }[];
}

export const DEMO_SERVICE_KEY_HEADER = 'x-demo-service-key';

const PATIENTS: DemoPatient[] = [
  {
    pkbId: 'pat-1001',
    name: 'Alex Example',
    birthDate: '1961-04-12',
    sharedWithTeams: ['team-gp'],
    records: [
      { id: 'r1', type: 'allergy', date: '2024-02-01', text: 'Penicillin: anaphylaxis' },
      { id: 'r2', type: 'medication', date: '2026-10-20', text: 'Warfarin 5 mg once daily' },
      { id: 'r3', type: 'diagnosis', date: '2019-06-03', text: 'Atrial fibrillation' },
    ],
    observations: [
      { code: '8867-4', display: 'Heart rate', value: 112, unit: '/min', date: '2026-12-01' },
      { code: '6301-6', display: 'INR', value: 3.4, unit: '{INR}', date: '2026-11-28' },
    ],
  },
  {
    pkbId: 'pat-1002',
    name: 'Sam Sample',
    birthDate: '1988-09-30',
    sharedWithTeams: [],
    records: [
      { id: 'r1', type: 'diagnosis', date: '2021-01-15', text: 'Type 1 diabetes' },
      { id: 'r2', type: 'medication', date: '2026-09-02', text: 'Insulin glargine 20 units at night' },
    ],
    observations: [{ code: '2339-0', display: 'Glucose', value: 3.1, unit: 'mmol/L', date: '2026-12-02' }],
  },
  {
    pkbId: 'pat-1003',
    name: 'Jo Placeholder',
    birthDate: '1949-12-24',
    sharedWithTeams: ['team-er'],
    records: [{ id: 'r1', type: 'procedure', date: '2025-03-11', text: 'Pacemaker implanted' }],
    observations: [],
  },
];

export interface SampleUpstream {
  readonly url: string;
  readonly serviceKey: string;
  close(): Promise<void>;
}

export async function startSampleUpstream(options: { port?: number; serviceKey?: string } = {}): Promise<SampleUpstream> {
  const serviceKey = options.serviceKey ?? 'demo-service-key';
  const server = createServer((req, res) => {
    collectBody(req)
      .then((body) => handle(req, res, body, serviceKey))
      .catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, serviceKey, close: () => closeQuietly(server) };
}

function handle(req: IncomingMessage, res: ServerResponse, body: string, serviceKey: string): void {
  const url = new URL(req.url ?? '/', 'http://upstream');
  const segments = url.pathname.split('/').filter(Boolean);
  if (segments[0] === 'patients' && segments[1]) {
    return patientRoute(req, res, segments, body, serviceKey);
  }
  if (url.pathname === '/fhir/Observation') {
    const reference = url.searchParams.get('patient') ?? '';
    const patient = find(reference.replace(/^Patient\//, ''));
    if (!patient) return reply(res, 404, { error: 'Patient not found' });
    if (!allowed(req, patient, serviceKey)) return refuse(res);
    return reply(res, 200, observationBundle(patient));
  }
  if (url.pathname === '/' || url.pathname === '/health') return reply(res, 200, { service: 'demo PKB upstream' });
  reply(res, 404, { error: 'Not found' });
}

function patientRoute(req: IncomingMessage, res: ServerResponse, segments: string[], body: string, serviceKey: string): void {
  const patient = find(segments[1]!);
  if (!patient) return reply(res, 404, { error: 'Patient not found' });
  if (!allowed(req, patient, serviceKey)) return refuse(res);
  if (segments.length === 2) {
    return reply(res, 200, { pkbId: patient.pkbId, name: patient.name, birthDate: patient.birthDate });
  }
  if (segments[2] === 'records' && segments.length === 3) {
    if (req.method === 'POST') {
      const record = { id: `r${patient.records.length + 1}`, type: 'note', date: new Date().toISOString().slice(0, 10), text: body.slice(0, 2000) };
      patient.records.push(record);
      return reply(res, 201, record);
    }
    return reply(res, 200, { pkbId: patient.pkbId, records: patient.records });
  }
  reply(res, 404, { error: 'Not found' });
}

/** Consent as the demo upstream sees it: shared with the caller's team, via BTG, or a service lookup. */
function allowed(req: IncomingMessage, patient: DemoPatient, serviceKey: string): boolean {
  if (req.headers[DEMO_SERVICE_KEY_HEADER] === serviceKey) return true;
  const btgTeam = req.headers['x-btg-team-id'];
  if (typeof btgTeam === 'string' && req.headers['x-btg-patient-id'] === patient.pkbId) return true;
  const team = teamOfBearer(req.headers.authorization);
  return team !== undefined && patient.sharedWithTeams.includes(team);
}

function teamOfBearer(authorization: string | undefined): string | undefined {
  const token = authorization?.match(/^Bearer\s+([^\s]+)$/i)?.[1];
  const payload = token?.split('.')[1];
  if (!payload) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { team?: unknown };
    return typeof claims.team === 'string' ? claims.team : undefined;
  } catch {
    return undefined;
  }
}

function find(pkbId: string): DemoPatient | undefined {
  return PATIENTS.find((p) => p.pkbId === pkbId);
}

function observationBundle(patient: DemoPatient): unknown {
  return {
    resourceType: 'Bundle',
    type: 'searchset',
    total: patient.observations.length,
    entry: patient.observations.map((o, i) => ({
      resource: {
        resourceType: 'Observation',
        id: `${patient.pkbId}-obs-${i + 1}`,
        status: 'final',
        code: { coding: [{ system: 'http://loinc.org', code: o.code, display: o.display }] },
        subject: { reference: `Patient/${patient.pkbId}` },
        effectiveDateTime: o.date,
        valueQuantity: { value: o.value, unit: o.unit },
      },
    })),
  };
}

function refuse(res: ServerResponse): void {
  reply(res, 403, { error: 'Patient has not shared data with your team' });
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) });
  res.end(payload);
}

async function collectBody(req: IncomingMessage): Promise<string> {
  let body = '';
  for await (const chunk of req) {
    body += String(chunk);
    if (body.length > 65_536) throw new Error('body too large');
  }
  return body;
}

function closeQuietly(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
