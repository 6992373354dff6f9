import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { orderByChain } from './audit-files.js';
import { readLines } from './jsonl.js';
import { parseRecordLine } from './record-line.js';
import type { AuditEvent, AuditRecord } from './record.js';

/**
 * FHIR R4 AuditEvent resources in the style of IHE BALP (Basic Audit Log Patterns): emergency
 * override start/stop for grants and revocations (DICOM 110113 Security Alert with subtype
 * 110127 / 110138, as in FHIR's break-glass examples), RESTful interactions for proxied calls, BTG as
 * purposeOfEvent, the patient as a Person/Patient entity, the user (requestor) and team as agents.
 * An extra entity ties each resource back to its audit record (id, seq, hash) in the hash chain.
 */

const DCM = 'http://dicom.nema.org/resources/ontology/DCM';
const AUDIT_EVENT_TYPE = 'http://terminology.hl7.org/CodeSystem/audit-event-type';
const RESTFUL_INTERACTION = 'http://hl7.org/fhir/restful-interaction';
const ACT_REASON = 'http://terminology.hl7.org/CodeSystem/v3-ActReason';
const PARTICIPATION_TYPE = 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType';
const ROLE_CLASS = 'http://terminology.hl7.org/CodeSystem/v3-RoleClass';
const SOURCE_TYPE = 'http://terminology.hl7.org/CodeSystem/security-source-type';
const ENTITY_TYPE = 'http://terminology.hl7.org/CodeSystem/audit-entity-type';
const OBJECT_ROLE = 'http://terminology.hl7.org/CodeSystem/object-role';
/** FHIR's id type; a pkbId may use characters (`:`, `@`, `_`) or a length it does not allow. */
const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;
/** Identifies a record of this gateway's hash chain: `<instance>:<seq>`. */
export const AUDIT_RECORD_SYSTEM = 'urn:btg-gateway:audit-record';

interface Coding {
  system: string;
  code: string;
  display: string;
}

const SECURITY_ALERT: Coding = { system: DCM, code: '110113', display: 'Security Alert' };
const REST: Coding = { system: AUDIT_EVENT_TYPE, code: 'rest', display: 'Restful Operation' };
const AUDIT_LOG_USED: Coding = { system: DCM, code: '110101', display: 'Audit Log Used' };
const OVERRIDE_STARTED: Coding = { system: DCM, code: '110127', display: 'Emergency Override Started' };
const OVERRIDE_STOPPED: Coding = { system: DCM, code: '110138', display: 'Emergency Override Stopped' };
const BREAK_THE_GLASS: Coding = { system: ACT_REASON, code: 'BTG', display: 'break the glass' };

const INTERACTIONS: Record<string, { code: string; action: string }> = {
  GET: { code: 'read', action: 'R' },
  HEAD: { code: 'read', action: 'R' },
  POST: { code: 'create', action: 'C' },
  PUT: { code: 'update', action: 'U' },
  PATCH: { code: 'patch', action: 'U' },
  DELETE: { code: 'delete', action: 'D' },
};

const KINDS: Record<AuditEvent, (record: AuditRecord) => { type: Coding; subtype?: Coding; action: string }> = {
  grant: () => ({ type: SECURITY_ALERT, subtype: OVERRIDE_STARTED, action: 'E' }),
  revoke: () => ({ type: SECURITY_ALERT, subtype: OVERRIDE_STOPPED, action: 'E' }),
  access: restKind,
  response: restKind,
  denied: restKind,
  audit_read: () => ({ type: AUDIT_LOG_USED, action: 'R' }),
};

function restKind(record: AuditRecord): { type: Coding; subtype?: Coding; action: string } {
  const interaction = INTERACTIONS[record.request?.method.toUpperCase() ?? ''];
  if (!interaction) return { type: REST, action: 'E' };
  return {
    type: REST,
    subtype: { system: RESTFUL_INTERACTION, code: interaction.code, display: interaction.code },
    action: interaction.action,
  };
}

/** R4 outcome: 0 success, 4 minor failure (a refused request), 8 serious failure. */
function outcomeOf(record: AuditRecord): '0' | '4' | '8' {
  if (record.outcome === 'success') return '0';
  return record.event === 'denied' ? '4' : '8';
}

/** One AuditEvent for a record, or undefined for an event kind this exporter does not know. */
export function toFhirAuditEvent(record: AuditRecord, source: { observer: string }): object | undefined {
  const kind = Object.hasOwn(KINDS, record.event) ? KINDS[record.event](record) : undefined;
  if (!kind) return undefined;
  const purpose = record.event === 'audit_read' ? undefined : [{ coding: [BREAK_THE_GLASS], text: record.reason }];
  return {
    resourceType: 'AuditEvent',
    id: FHIR_ID.test(record.id) ? record.id : undefined,
    type: kind.type,
    subtype: kind.subtype ? [kind.subtype] : undefined,
    action: kind.action,
    recorded: record.time,
    outcome: outcomeOf(record),
    outcomeDesc: record.code,
    purposeOfEvent: purpose,
    agent: agentsOf(record, kind.action),
    source: {
      site: record.instance,
      observer: { display: source.observer, identifier: { value: record.instance } },
      type: [{ system: SOURCE_TYPE, code: '4', display: 'Application Server' }],
    },
    entity: entitiesOf(record),
  };
}

function agentsOf(record: AuditRecord, action: string): object[] {
  // BALP: IRCP for a user who receives data, AGNT for one who pushes or changes it.
  const role = action === 'R' ? { system: PARTICIPATION_TYPE, code: 'IRCP', display: 'information recipient' } : { system: ROLE_CLASS, code: 'AGNT', display: 'agent' };
  const user = {
    type: { coding: [role] },
    who: record.userId ? { identifier: { value: record.userId } } : { display: 'unknown user' },
    requestor: true,
    network: record.request?.clientIp ? { address: record.request.clientIp, type: '2' } : undefined,
    purposeOfUse: record.event === 'audit_read' ? undefined : [{ coding: [BREAK_THE_GLASS] }],
  };
  if (!record.teamId) return [user];
  const team = { type: { text: 'team' }, who: { type: 'Organization', identifier: { value: record.teamId } }, requestor: false };
  return [user, team];
}

function entitiesOf(record: AuditRecord): object[] {
  const entities: object[] = [];
  if (record.pkbId) entities.push(patientEntity(record.pkbId));
  if (record.tokenPkbId && record.tokenPkbId !== record.pkbId) {
    entities.push({ ...patientEntity(record.tokenPkbId), description: 'patient the BTG token was issued for' });
  }
  if (record.request) entities.push(requestEntity(record));
  entities.push(chainEntity(record));
  return entities;
}

function patientEntity(pkbId: string): object {
  return {
    what: FHIR_ID.test(pkbId) ? { reference: `Patient/${pkbId}` } : { type: 'Patient', identifier: { value: pkbId } },
    type: { system: ENTITY_TYPE, code: '1', display: 'Person' },
    role: { system: OBJECT_ROLE, code: '1', display: 'Patient' },
  };
}

function requestEntity(record: AuditRecord): object {
  const request = record.request!;
  return {
    what: { display: `${request.method} ${request.path}` },
    type: { system: ENTITY_TYPE, code: '2', display: 'System Object' },
    role: { system: OBJECT_ROLE, code: '4', display: 'Domain Resource' },
    detail: details({
      requestId: request.id,
      method: request.method,
      path: request.path,
      query: request.query,
      userAgent: request.userAgent,
      status: record.response?.status,
      bytes: record.response?.bytes,
      sha256: record.response?.sha256,
      contentType: record.response?.contentType,
    }),
  };
}

function chainEntity(record: AuditRecord): object {
  return {
    what: { identifier: { system: AUDIT_RECORD_SYSTEM, value: `${record.instance}:${record.seq}` } },
    type: { system: ENTITY_TYPE, code: '2', display: 'System Object' },
    role: { system: OBJECT_ROLE, code: '13', display: 'Security Resource' },
    description: 'btg-gateway audit record this event was exported from',
    detail: details({ recordId: record.id, event: record.event, seq: record.seq, hash: record.hash, prevHash: record.prevHash, tokenId: record.tokenId }),
  };
}

function details(values: Record<string, string | number | undefined>): { type: string; valueString: string }[] {
  return Object.entries(values).flatMap(([type, value]) => (value === undefined || value === '' ? [] : [{ type, valueString: String(value) }]));
}

/** Writes one AuditEvent per record of the files (in chain order) as NDJSON; returns how many. */
export async function exportFhir(paths: string[], out: Writable, options: { observer?: string } = {}): Promise<number> {
  const source = { observer: options.observer ?? 'btg-gateway' };
  let written = 0;
  for (const path of await orderByChain(paths)) {
    for await (const { text, terminated } of readLines(path)) {
      const record = terminated ? parseRecordLine(text) : undefined;
      const event = record && toFhirAuditEvent(record, source);
      if (!event) continue;
      written += 1;
      if (!out.write(`${JSON.stringify(event)}\n`)) await once(out, 'drain');
    }
  }
  return written;
}
