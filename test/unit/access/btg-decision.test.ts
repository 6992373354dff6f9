import { describe, expect, it } from 'vitest';
import { decideBtgAccess, type AccessPolicy } from '../../../src/access/btg-decision.js';
import { parseRequestTarget } from '../../../src/access/request-target.js';
import { compileRoutes } from '../../../src/access/route-matcher.js';
import { refusalOf } from './refusal.js';

const policy: AccessPolicy = {
  methods: new Set(['GET', 'HEAD', 'POST']),
  routes: compileRoutes([{ path: '/patients/{pkbId}/**' }, { path: '/fhir/Observation', query: 'patient' }]),
};

function decide(method: string, raw: string, tokenPkbId = 'p1') {
  return decideBtgAccess(method, parseRequestTarget(raw), tokenPkbId, policy);
}

function refusal(method: string, raw: string, tokenPkbId = 'p1') {
  return refusalOf(() => decide(method, raw, tokenPkbId));
}

describe('decideBtgAccess', () => {
  it.each([
    ['GET', '/patients/p1', '/patients/{pkbId}/**'],
    ['HEAD', '/patients/p1/records/7', '/patients/{pkbId}/**'],
    ['POST', '/patients/%70%31/notes', '/patients/{pkbId}/**'],
    ['GET', '/fhir/Observation?patient=Patient/p1&code=x', '/fhir/Observation?patient={pkbId}'],
  ])('allows %s %s', (method, raw, rule) => {
    expect(decide(method, raw)).toEqual({ rule, pkbId: 'p1' });
  });

  it.each([
    ['DELETE', '/patients/p1', /Method DELETE is not allowed/],
    ['get', '/patients/p1', /Method get is not allowed/],
    ['GET', '/Patients/p1', /No BTG route rule matches/],
    ['GET', '/admin/users', /No BTG route rule matches/],
    ['GET', '/fhir/Observation?subject=Patient/p1', /No BTG route rule matches/],
    ['GET', '/fhir/Observation/123?patient=p1', /No BTG route rule matches/],
  ])('refuses %s %s as route_not_allowed', (method, raw, message) => {
    const err = refusal(method, raw);
    expect([err.status, err.code]).toEqual([403, 'route_not_allowed']);
    expect(err.message).toMatch(message);
  });

  it('checks the method before the route', () => {
    expect(refusal('DELETE', '/nowhere').message).toMatch(/Method DELETE/);
  });

  it.each([
    ['/patients/p2/records', 'p1'],
    ['/patients/P1/records', 'p1'],
    ['/patients/p1/records', 'P1'],
    ['/patients/p1/records', 'p1 '],
    ['/fhir/Observation?patient=Patient/p2', 'p1'],
  ])('refuses %s for a token of %j as patient_mismatch', (raw, tokenPkbId) => {
    const err = refusal('GET', raw, tokenPkbId);
    expect([err.status, err.code]).toEqual([403, 'patient_mismatch']);
    expect(err.message).not.toContain(tokenPkbId);
  });

  it.each([
    '/fhir/Observation?patient=p1&patient=p2',
    '/fhir/Observation?patient=p1,p2',
    '/patients/p1/records?patient=p2',
    '/patients/p1,p2',
  ])('propagates the matcher\'s bad_request for %s', (raw) => {
    const err = refusal('GET', raw);
    expect([err.status, err.code]).toEqual([400, 'bad_request']);
  });
});
