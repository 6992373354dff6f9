import { describe, expect, it } from 'vitest';
import { parseRequestTarget } from '../../../src/access/request-target.js';
import { compileRoutes } from '../../../src/access/route-matcher.js';
import type { RouteRule } from '../../../src/config/schema.js';
import { GatewayError } from '../../../src/errors.js';
import { refusalOf } from './refusal.js';

const DEFAULT_RULES: RouteRule[] = [{ path: '/patients/{pkbId}/**' }, { path: '/fhir/Observation', query: 'patient' }];

function locate(raw: string, rules: readonly RouteRule[] = DEFAULT_RULES) {
  return compileRoutes(rules).locate(parseRequestTarget(raw));
}

function locateError(raw: string, rules: readonly RouteRule[] = DEFAULT_RULES): GatewayError {
  return refusalOf(() => locate(raw, rules));
}

describe('compileRoutes refuses rules that cannot mean anything sensible', () => {
  it.each([
    [{ path: '/patients/{pkbId}/{pkbId}' }, /only once/],
    [{ path: '/patients/**/{pkbId}' }, /\*\* is only allowed as the last segment/],
    [{ path: '/a/**/**', query: 'patient' }, /\*\* is only allowed as the last segment/],
    [{ path: '/patients/{pkbId}', query: 'patient' }, /not both/],
    [{ path: '/patients/**' }, /needs a \{pkbId\} segment or a query/],
    [{ path: '/' }, /needs a \{pkbId\} segment or a query/],
    [{ path: '/patients//{pkbId}' }, /empty path segments/],
    [{ path: '/patients/{pkbId}/' }, /empty path segments/],
    [{ path: '/patients/../{pkbId}' }, /dot segment/],
    [{ path: '/patients/{id}' }, /unknown placeholder/],
    [{ path: '/patients/p-{pkbId}' }, /unknown placeholder/],
    [{ path: '/patients/a*/{pkbId}' }, /wildcards must be whole segments/],
    [{ path: '/patients/%70/{pkbId}' }, /must be written decoded/],
    [{ path: '/pat;x/{pkbId}' }, /must be written decoded/],
    [{ path: '/my patients/{pkbId}' }, /must be written decoded/],
    [{ path: 'patients/{pkbId}' }, /must start with \//],
    [{ path: '/fhir/Observation', query: '%70atient' }, /written plainly/],
    [{ path: '/fhir/Observation', query: 'pat ient' }, /written plainly/],
    [{ path: '/fhir/Observation', query: 'a=b' }, /written plainly/],
    [{ path: '/fhir/Observation', query: '_' }, /written plainly/],
  ])('%j', (rule, message) => {
    expect(() => compileRoutes([{ path: '/ok/{pkbId}' }, rule])).toThrow(message);
    expect(() => compileRoutes([rule])).not.toThrow(GatewayError);
  });

  it('accepts every form of SPEC section 5', () => {
    expect(() =>
      compileRoutes([
        ...DEFAULT_RULES,
        { path: '/patients/{pkbId}' },
        { path: '/*/{pkbId}/x/*' },
        { path: '/', query: 'patient' },
        { path: '/fhir/*/**', query: 'subject:Patient' },
      ]),
    ).not.toThrow();
  });
});

describe('path rules', () => {
  it.each([
    ['/patients/p1', 'p1'],
    ['/patients/p1/', 'p1'],
    ['/patients/p1/records', 'p1'],
    ['/patients/p1/records/x/y?whatever=1', 'p1'],
    ['/patients/%70%31/records', 'p1'],
    ['/%70atients/p1', 'p1'],
    ['/patients/a.b_c:d@e-F9', 'a.b_c:d@e-F9'],
    [`/patients/${'x'.repeat(128)}`, 'x'.repeat(128)],
    ['/patients/p1?patient=p1', 'p1'],
    ['/patients/p1?patient=Patient/p1', 'p1'],
  ])('%s locates %s', (raw, pkbId) => {
    expect(locate(raw)).toEqual({ rule: '/patients/{pkbId}/**', pkbId });
  });

  it.each([
    '/Patients/p1',
    '/PATIENTS/p1/records',
    '/patient/p1',
    '/patients',
    '/',
    '/other/patients/p1',
    '/api/patients/p1',
  ])('%s matches no rule', (raw) => {
    expect(locate(raw)).toBeUndefined();
  });

  it.each([
    ['/patients/', /patient id/],
    ['/patients/p1,p2/records', /patient id/],
    ['/patients/p1+p2', /patient id/],
    ['/patients/p%201', /patient id/],
    ['/patients/%2B', /patient id/],
    [`/patients/${'x'.repeat(129)}`, /patient id/],
    ['/patients/p1!', /patient id/],
    ['/patients/p1*', /patient id/],
    ['/patients/.../x', /Dot segments/],
    ['/patients/p1/../p2/records', /Dot segments/],
    ['/patients/p1;jsessionid=1/records', /Path parameters/],
    ['/patients/%252e%252e/p2', /Double percent-encoding/],
  ])('%s is refused', (raw, message) => {
    const err = locateError(raw);
    expect([err.status, err.code]).toEqual([400, 'bad_request']);
    expect(err.message).toMatch(message);
  });

  it('an exact rule does not match a longer or shorter path', () => {
    const rules = [{ path: '/patients/{pkbId}' }];
    expect(locate('/patients/p1', rules)).toEqual({ rule: '/patients/{pkbId}', pkbId: 'p1' });
    expect(locate('/patients/p1/records', rules)).toBeUndefined();
    expect(locate('/patients', rules)).toBeUndefined();
  });

  it('* matches exactly one non-empty segment', () => {
    const rules = [{ path: '/*/{pkbId}/x/*' }];
    expect(locate('/api/p1/x/y', rules)).toEqual({ rule: '/*/{pkbId}/x/*', pkbId: 'p1' });
    expect(locate('/api/p1/x', rules)).toBeUndefined();
    expect(locate('/api/p1/x/', rules)).toBeUndefined();
    expect(locate('/api/p1/x/y/z', rules)).toBeUndefined();
  });

  it('an empty trailing id segment is refused, not skipped', () => {
    expect(locateError('/patients/', [{ path: '/patients/{pkbId}' }]).status).toBe(400);
  });
});

describe('query rules', () => {
  it.each([
    ['/fhir/Observation?patient=p1', 'p1'],
    ['/fhir/Observation?patient=Patient/p1', 'p1'],
    ['/fhir/Observation?patient=Patient%2Fp1', 'p1'],
    ['/fhir/Observation?patient=p%31', 'p1'],
    ['/fhir/Observation?code=1234&patient=p1&_count=10', 'p1'],
    ['/fhir/Observation?patient=p1&subject=Patient/p2', 'p1'],
    ['/fhir/Observation?patient=p1&patient.name=Smith', 'p1'],
    ['/fhir/Observation?patient=p1&patient:missing=false', 'p1'],
    ['/fhir/Observation?patient=p1&patientName=x', 'p1'],
    ['/fhir/%4Fbservation?patient=p1', 'p1'],
  ])('%s locates %s', (raw, pkbId) => {
    expect(locate(raw)).toEqual({ rule: '/fhir/Observation?patient={pkbId}', pkbId });
  });

  it.each([
    '/fhir/Observation',
    '/fhir/Observation?',
    '/fhir/Observation?subject=Patient/p1',
    '/fhir/Observation?patient:Patient=p1',
    '/fhir/Observation/123?patient=p1',
    '/fhir/Observation/?patient=p1',
    '/fhir/observation?patient=p1',
    '/fhir/Observation/_search?patient=p1',
    '/fhir/Patient?patient=p1',
  ])('%s matches no rule', (raw) => {
    expect(locate(raw)).toBeUndefined();
  });

  it.each([
    ['/fhir/Observation?patient=p1&patient=p2', /more than once/],
    ['/fhir/Observation?patient=p1&patient=p1', /more than once/],
    ['/fhir/Observation?patient=p1&%70atient=p2', /more than once/],
    ['/fhir/Observation?patient=p1&Patient=p2', /more than once/],
    ['/fhir/Observation?patient=p1&PATIENT=p1', /more than once/],
    ['/fhir/Observation?patient=p1&patient[]=p2', /more than once/],
    ['/fhir/Observation?patient=p1&patient%5B0%5D=p2', /more than once/],
    ['/fhir/Observation?patient=p1&patient%20=p2', /more than once/],
    ['/fhir/Observation?patient=p1&+patient=p2', /more than once/],
    ['/fhir/Observation?patient=p1&%2570atient=p2', /more than once/],
    ['/fhir/Observation?patient=p1&pati_ent=p2', /more than once/],
    ['/fhir/Observation?patient=p1&%EF%BD%90atient=p2', /names must be printable ASCII/],
    ['/fhir/Observation?%70atient=p1', /spelled exactly "patient"/],
    ['/fhir/Observation?Patient=p1', /spelled exactly "patient"/],
    ['/fhir/Observation?patient[]=p1', /spelled exactly "patient"/],
    ['/fhir/Observation?patient=', /empty value/],
    ['/fhir/Observation?patient', /empty value/],
    ['/fhir/Observation?patient=p1,p2', /list of patients/],
    ['/fhir/Observation?patient=p1%2Cp2', /list of patients/],
    ['/fhir/Observation?patient=Patient/', /without an id/],
    ['/fhir/Observation?patient=Patient/p1/_history/2', /patient id/],
    ['/fhir/Observation?patient=http://other/fhir/Patient/p1', /patient id/],
    ['/fhir/Observation?patient=Patient/Patient/p1', /patient id/],
    ['/fhir/Observation?patient=patient/p1', /patient id/],
    ['/fhir/Observation?patient=p+1', /patient id/],
    ['/fhir/Observation?patient=p%2531', /patient id/],
    ['/fhir/Observation?patient=..', /patient id/],
    ['/fhir/Observation?patient=Patient/..', /patient id/],
    ['/fhir/Observation?patient=p%C3%A9', /patient id/],
    [`/fhir/Observation?patient=${'x'.repeat(129)}`, /patient id/],
  ])('%s is refused', (raw, message) => {
    const err = locateError(raw);
    expect([err.status, err.code]).toEqual([400, 'bad_request']);
    expect(err.message).toMatch(message);
  });

  it('uses only the configured parameter name', () => {
    const rules = [{ path: '/fhir/Observation', query: 'subject' }];
    expect(locate('/fhir/Observation?subject=Patient/p1', rules)).toEqual({ rule: '/fhir/Observation?subject={pkbId}', pkbId: 'p1' });
    expect(locate('/fhir/Observation?patient=p1', rules)).toBeUndefined();
  });

  it('allows wildcards in the path of a query rule', () => {
    const rules = [{ path: '/fhir/*/**', query: 'patient' }];
    expect(locate('/fhir/Condition?patient=p1', rules)?.pkbId).toBe('p1');
    expect(locate('/fhir/Condition/_search/x?patient=p1', rules)?.pkbId).toBe('p1');
    expect(locate('/fhir?patient=p1', rules)).toBeUndefined();
  });
});

describe('several rules', () => {
  it('the first matching rule in config order names the match when all agree', () => {
    const rules = [{ path: '/patients/{pkbId}' }, { path: '/patients/{pkbId}/**' }, { path: '/**', query: 'patient' }];
    expect(locate('/patients/p1?patient=p1', rules)).toEqual({ rule: '/patients/{pkbId}', pkbId: 'p1' });
    expect(locate('/patients/p1/x?patient=p1', rules)).toEqual({ rule: '/patients/{pkbId}/**', pkbId: 'p1' });
  });

  it('two rules locating different patients is ambiguous', () => {
    const rules = [{ path: '/patients/{pkbId}/**' }, { path: '/patients/lookup/{pkbId}' }];
    expect(locateError('/patients/lookup/p1', rules).message).toMatch(/more than one patient/);
  });

  it('a configured patient parameter must agree with a path-located patient', () => {
    expect(locateError('/patients/p1/records?patient=p2').message).toMatch(/more than one patient/);
    expect(locateError('/patients/p1/records?patient=Patient/p2').message).toMatch(/more than one patient/);
    expect(locateError('/patients/p1/records?patient=p1&patient=p1').message).toMatch(/more than once/);
    expect(locateError('/patients/p1/records?PATIENT=p1').message).toMatch(/spelled exactly/);
    expect(locateError('/patients/p1/records?patient=p1,p2').message).toMatch(/list of patients/);
  });

  it('a stray patient parameter on an unmatched path changes nothing', () => {
    expect(locate('/elsewhere?patient=p1&patient=p2')).toBeUndefined();
  });

  it('no rules locate nothing', () => {
    expect(compileRoutes([]).locate(parseRequestTarget('/patients/p1'))).toBeUndefined();
  });
});
