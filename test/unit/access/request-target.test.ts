import { describe, expect, it } from 'vitest';
import { parseRequestTarget, MAX_TARGET_LENGTH } from '../../../src/access/request-target.js';
import { refusalOf } from './refusal.js';

describe('parseRequestTarget accepts origin-form targets', () => {
  it.each([
    ['/', [], '', []],
    ['/?', [], '', []],
    ['/patients/p1', ['patients', 'p1'], '', []],
    ['/patients/p1/', ['patients', 'p1', ''], '', []],
    ['/patients/%70%31/records', ['patients', 'p1', 'records'], '', []],
    ['/a/b%20c', ['a', 'b c'], '', []],
    ['/a+b', ['a+b'], '', []],
    ['/files/x.json', ['files', 'x.json'], '', []],
    ['/a/.hidden', ['a', '.hidden'], '', []],
    ['/a/..b', ['a', '..b'], '', []],
    ["/a/~!$&'()*+,=:@", ['a', "~!$&'()*+,=:@"], '', []],
    ['/fhir/Observation?patient=p1', ['fhir', 'Observation'], 'patient=p1', [{ rawName: 'patient', name: 'patient', value: 'p1' }]],
    ['/x?a=1+2&b=%2B', ['x'], 'a=1+2&b=%2B', [{ rawName: 'a', name: 'a', value: '1 2' }, { rawName: 'b', name: 'b', value: '+' }]],
    ['/x?%70atient=Patient%2Fp1', ['x'], '%70atient=Patient%2Fp1', [{ rawName: '%70atient', name: 'patient', value: 'Patient/p1' }]],
    ['/x?flag&&b=&=v&', ['x'], 'flag&&b=&=v&', [{ rawName: 'flag', name: 'flag', value: '' }, { rawName: 'b', name: 'b', value: '' }, { rawName: '', name: '', value: 'v' }]],
    ['/x?a=b=c', ['x'], 'a=b=c', [{ rawName: 'a', name: 'a', value: 'b=c' }]],
    ['/x?q=a?b/c', ['x'], 'q=a?b/c', [{ rawName: 'q', name: 'q', value: 'a?b/c' }]],
    ['/x?name=Jos%C3%A9', ['x'], 'name=Jos%C3%A9', [{ rawName: 'name', name: 'name', value: 'José' }]],
    ['/x?code=http://loinc.org|1234-5', ['x'], 'code=http://loinc.org|1234-5', [{ rawName: 'code', name: 'code', value: 'http://loinc.org|1234-5' }]],
    ['/x?pct=50%25', ['x'], 'pct=50%25', [{ rawName: 'pct', name: 'pct', value: '50%' }]],
  ])('%s', (raw, segments, rawQuery, query) => {
    const target = parseRequestTarget(raw);
    expect(target).toEqual({ raw, rawPath: raw.split('?')[0], segments, rawQuery, query });
    expect(target.raw).toBe(raw);
  });

  it('accepts a target of exactly the maximum length', () => {
    const raw = `/${'a'.repeat(MAX_TARGET_LENGTH - 1)}`;
    expect(parseRequestTarget(raw).raw).toBe(raw);
  });
});

describe('parseRequestTarget refuses with 400 bad_request', () => {
  it.each([
    // not origin-form
    ['', /origin-form/],
    ['*', /origin-form/],
    ['http://upstream/patients/p1', /origin-form/],
    ['HTTP://x/', /origin-form/],
    ['upstream:443', /origin-form/],
    ['patients/p1', /origin-form/],
    // empty segments
    ['//', /Empty path segments/],
    ['//evil.example/patients/p1', /Empty path segments/],
    ['/patients//p1', /Empty path segments/],
    ['/patients/p1//', /Empty path segments/],
    // dot segments, raw and encoded
    ['/.', /Dot segments/],
    ['/..', /Dot segments/],
    ['/patients/p1/../p2/records', /Dot segments/],
    ['/patients/p1/./records', /Dot segments/],
    ['/patients/p1/%2e%2e/p2', /Dot segments/],
    ['/patients/p1/%2E%2e/p2', /Dot segments/],
    ['/patients/p1/.%2E/p2', /Dot segments/],
    ['/patients/p1/%2e/records', /Dot segments/],
    ['/patients/p1/...', /Dot segments/],
    ['/patients/p1/..%20/p2', /Dot segments/],
    ['/patients/p1/%2e%20', /Dot segments/],
    // encoded separators
    ['/patients/p1%2f..%2fp2', /Encoded \//],
    ['/patients/p1%2F..%2Fp2', /Encoded \//],
    ['/patients/p1%5c..%5cp2', /Encoded \\/],
    ['/patients/p1%5C', /Encoded \\/],
    ['/patients/p1\\..\\p2', /backslash/],
    ['/x?a=\\', /backslash/],
    ['/patients/p1%3Fpatient=p2', /delimiters/],
    ['/patients/p1%23x', /delimiters/],
    ['/patients/p1%3bx', /delimiters/],
    // double encoding
    ['/patients/p1/%252e%252e/p2', /Double percent-encoding/],
    ['/patients/%2570%2531', /Double percent-encoding/],
    ['/patients/p1%252fp2', /Double percent-encoding/],
    // NUL, control characters, spaces, non-ASCII
    ['/patients/p1%00', /NUL or control/],
    ['/patients/p1%0a', /NUL or control/],
    ['/patients/p1%7F', /NUL or control/],
    ['/patients/p1%C2%85', /NUL or control/],
    ['/x?a=%00', /NUL or control/],
    ['/x?a%0d%0a=1', /NUL or control/],
    ['/patients/p1\u0000', /space, control/],
    ['/patients/p1 HTTP/1.1', /space, control/],
    ['/patients/p1\t', /space, control/],
    ['/patients/p1\u007f', /space, control/],
    ['/patients/pé', /space, control/],
    ['/patients/p\u00c3\u00a9', /space, control/],
    ['/patients/p\u2215x', /space, control/],
    ['/patients/p%C3%A9', /non-ASCII/],
    ['/patients/p1%EF%BC%8E%EF%BC%8E', /non-ASCII/],
    ['/x?%C3%A9=1', /names must be printable ASCII/],
    // path parameters and odd characters in the path
    ['/patients/p1;jsessionid=abc/records', /Path parameters/],
    ['/patients/p1/..;/p2', /Path parameters/],
    ['/patients;/p1', /Path parameters/],
    ['/patients/p1[0]', /not allowed in a BTG request path/],
    ['/patients/{p1}', /not allowed in a BTG request path/],
    ['/patients/p1|p2', /not allowed in a BTG request path/],
    ['/patients/"p1"', /not allowed in a BTG request path/],
    // ; in the query
    ['/x?a=1;patient=p2', /A ; in the query/],
    // malformed or invalid percent-encoding
    ['/patients/%zz', /malformed percent-encoding/],
    ['/patients/p%2', /malformed percent-encoding/],
    ['/patients/p%', /malformed percent-encoding/],
    ['/x?a=%g1', /malformed percent-encoding/],
    ['/x?a=%', /malformed percent-encoding/],
    ['/patients/%C0%AE%C0%AE', /not valid UTF-8/],
    ['/patients/%ff', /not valid UTF-8/],
    ['/x?a=%E9', /not valid UTF-8/],
    // fragments
    ['/patients/p1#frag', /fragment/],
    ['/x?a=1#/../p2', /fragment/],
    // length
    [`/${'a'.repeat(MAX_TARGET_LENGTH)}`, /longer than 8192/],
    [`/x?${'a'.repeat(100_000)}`, /longer than 8192/],
  ])('%j', (raw, message) => {
    const err = refusalOf(() => parseRequestTarget(raw));
    expect(err.status).toBe(400);
    expect(err.code).toBe('bad_request');
    expect(err.message).toMatch(message);
  });
});
