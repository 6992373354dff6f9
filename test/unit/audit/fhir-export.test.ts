import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { HashChain } from '../../../src/audit/chain.js';
import { exportFhir, toFhirAuditEvent } from '../../../src/audit/fhir-export.js';
import type { AuditDraft, AuditEvent, AuditRecord } from '../../../src/audit/record.js';
import { draft, useScratchDir } from './helpers.js';

const scratch = useScratchDir();

interface Coding {
  system: string;
  code: string;
  display?: string;
}

/** The parts of R4 AuditEvent these tests read. */
interface FhirAuditEvent {
  resourceType: string;
  id: string;
  type: Coding;
  subtype?: Coding[];
  action?: string;
  recorded: string;
  outcome?: string;
  outcomeDesc?: string;
  purposeOfEvent?: { coding: Coding[]; text?: string }[];
  agent: { type?: { coding?: Coding[] }; who?: { identifier?: { value: string }; type?: string }; requestor: boolean; network?: { address: string; type: string } }[];
  source: { site?: string; observer: { display?: string; identifier?: { value: string } } };
  entity?: { what?: { reference?: string; type?: string; identifier?: { system?: string; value: string } }; type?: Coding; role?: Coding; detail?: { type: string; valueString: string }[] }[];
}

function record(overrides: Partial<AuditDraft>): AuditRecord {
  const [linked] = new HashChain().link([draft(overrides)]);
  return linked!;
}

function convert(source: AuditRecord): FhirAuditEvent {
  const event = toFhirAuditEvent(source, { observer: 'btg-gateway' });
  expect(event).toBeDefined();
  // What a FHIR server receives: JSON, without the undefined members.
  return JSON.parse(JSON.stringify(event)) as FhirAuditEvent;
}

const ALL_EVENTS: AuditEvent[] = ['grant', 'access', 'response', 'denied', 'revoke', 'audit_read'];

describe('toFhirAuditEvent', () => {
  it.each(ALL_EVENTS)('%s has every element R4 AuditEvent requires', (event) => {
    const fhir = convert(record({ event, outcome: event === 'denied' ? 'failure' : 'success' }));
    expect(fhir.resourceType).toBe('AuditEvent');
    expect(fhir.type.system).toMatch(/^http/);
    expect(fhir.type.code).toBeTruthy();
    expect(fhir.recorded).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    expect(fhir.agent.length).toBeGreaterThanOrEqual(1);
    for (const agent of fhir.agent) expect(typeof agent.requestor).toBe('boolean');
    expect(fhir.agent.some((agent) => agent.requestor)).toBe(true);
    expect(fhir.source.observer).toBeTruthy();
    expect(['0', '4', '8', '12']).toContain(fhir.outcome);
    expect(['C', 'R', 'U', 'D', 'E']).toContain(fhir.action);
    expect(fhir.id).toMatch(/^[A-Za-z0-9\-.]{1,64}$/);
  });

  it('records a grant as Emergency Override Started and a revoke as Emergency Override Stopped', () => {
    const grant = convert(record({ event: 'grant', reason: 'unconscious patient' }));
    expect(grant.type).toEqual({ system: 'http://dicom.nema.org/resources/ontology/DCM', code: '110113', display: 'Security Alert' });
    expect(grant.subtype).toEqual([{ system: 'http://dicom.nema.org/resources/ontology/DCM', code: '110127', display: 'Emergency Override Started' }]);
    expect(grant.purposeOfEvent).toEqual([
      { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: 'BTG', display: 'break the glass' }], text: 'unconscious patient' },
    ]);
    const revoke = convert(record({ event: 'revoke' }));
    expect(revoke.subtype?.[0]).toMatchObject({ code: '110138', display: 'Emergency Override Stopped' });
  });

  it.each([
    ['GET', 'read', 'R'],
    ['POST', 'create', 'C'],
    ['PUT', 'update', 'U'],
    ['DELETE', 'delete', 'D'],
  ])('records a proxied %s as a RESTful %s', (method, interaction, action) => {
    const fhir = convert(record({ event: 'access', request: { id: 'q', method, path: '/patients/p/records', query: 'x=1', clientIp: '10.1.2.3' } }));
    expect(fhir.type).toMatchObject({ system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest' });
    expect(fhir.subtype?.[0]).toMatchObject({ system: 'http://hl7.org/fhir/restful-interaction', code: interaction });
    expect(fhir.action).toBe(action);
  });

  it('has outcome 0 for success, 4 for a refusal and 8 for a failed response', () => {
    expect(convert(record({ event: 'access' })).outcome).toBe('0');
    expect(convert(record({ event: 'denied', outcome: 'failure', code: 'token_expired' }))).toMatchObject({ outcome: '4', outcomeDesc: 'token_expired' });
    expect(convert(record({ event: 'response', outcome: 'failure', code: 'upstream_timeout' })).outcome).toBe('8');
  });

  it('names the user as requestor with the client address, the team as an organisation, the gateway as observer', () => {
    const fhir = convert(record({ userId: 'dr.jones', teamId: 'team-a', instance: 'gw-3' }));
    expect(fhir.agent[0]).toMatchObject({ who: { identifier: { value: 'dr.jones' } }, requestor: true, network: { address: '10.0.0.1', type: '2' } });
    expect(fhir.agent[1]).toMatchObject({ who: { type: 'Organization', identifier: { value: 'team-a' } }, requestor: false });
    expect(fhir.source).toMatchObject({ site: 'gw-3', observer: { display: 'btg-gateway', identifier: { value: 'gw-3' } } });
  });

  it('has the patient as a Person/Patient entity and traces back to the chain record', () => {
    const source = record({ pkbId: 'p-9', tokenPkbId: 'p-8', event: 'denied', outcome: 'failure', code: 'patient_mismatch' });
    const fhir = convert(source);
    const patients = fhir.entity?.filter((e) => e.what?.reference?.startsWith('Patient/'));
    expect(patients?.map((e) => e.what?.reference)).toEqual(['Patient/p-9', 'Patient/p-8']);
    expect(patients?.[0]).toMatchObject({ type: { code: '1', display: 'Person' }, role: { code: '1', display: 'Patient' } });

    const chain = fhir.entity?.find((e) => e.what?.identifier?.system === 'urn:btg-gateway:audit-record');
    expect(chain?.what?.identifier?.value).toBe(`gw-1:${source.seq}`);
    expect(chain?.detail).toEqual(expect.arrayContaining([{ type: 'hash', valueString: source.hash }, { type: 'recordId', valueString: source.id }]));
    const request = fhir.entity?.find((e) => e.detail?.some((d) => d.type === 'path'));
    expect(request?.detail).toContainEqual({ type: 'path', valueString: source.request!.path });
  });

  it('refers by identifier to a patient whose pkbId is not a valid FHIR id', () => {
    const fhir = convert(record({ pkbId: 'nhs:9434765919@site_1' }));
    expect(fhir.entity?.[0]).toMatchObject({ what: { type: 'Patient', identifier: { value: 'nhs:9434765919@site_1' } } });
  });

  it('does not claim break-the-glass as the purpose of reading the audit trail', () => {
    expect(convert(record({ event: 'audit_read' }))).toMatchObject({ type: { code: '110101', display: 'Audit Log Used' } });
    expect(convert(record({ event: 'audit_read' })).purposeOfEvent).toBeUndefined();
  });

  it('skips an event kind it does not know', () => {
    expect(toFhirAuditEvent({ ...record({}), event: 'future' as AuditEvent }, { observer: 'x' })).toBeUndefined();
  });
});

describe('exportFhir', () => {
  it('writes one NDJSON AuditEvent per record of a rotated set, in chain order', async () => {
    const chain = new HashChain();
    const records = chain.link(ALL_EVENTS.map((event) => draft({ event })));
    const text = records.map((r) => JSON.stringify(r));
    await writeFile(join(scratch(), 'audit.jsonl.1'), `${text.slice(0, 3).join('\n')}\n`);
    await writeFile(join(scratch(), 'audit.jsonl'), `${text.slice(3).join('\n')}\n{"torn`);

    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on('data', (chunk: Buffer) => chunks.push(chunk));
    const count = await exportFhir([join(scratch(), 'audit.jsonl'), join(scratch(), 'audit.jsonl.1')], out);
    out.end();

    const events = Buffer.concat(chunks).toString().trimEnd().split('\n').map((line) => JSON.parse(line) as FhirAuditEvent);
    expect(count).toBe(6);
    expect(events.map((e) => e.id)).toEqual(records.map((r) => r.id));
  });
});
