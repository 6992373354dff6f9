import { posix } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decideBtgAccess, type AccessPolicy } from '../../../src/access/btg-decision.js';
import { classifyRequest } from '../../../src/access/classify.js';
import { parseRequestTarget } from '../../../src/access/request-target.js';
import { compileRoutes, type RouteMatch } from '../../../src/access/route-matcher.js';
import { GatewayError } from '../../../src/errors.js';

/** The default rules, whose meaning the reference readings below re-implement naively. */
const policy: AccessPolicy = {
  methods: new Set(['GET']),
  routes: compileRoutes([{ path: '/patients/{pkbId}/**' }, { path: '/fhir/Observation', query: 'patient' }]),
};

// A grammar of request targets: mostly honest pieces, salted with every trick of the hostile tables,
// so that generated targets land on both sides of the decision.
const mostly = <T>(honest: fc.Arbitrary<T>, hostile: fc.Arbitrary<T>) =>
  fc.oneof({ weight: 12, arbitrary: honest }, { weight: 1, arbitrary: hostile });
const segment = mostly(
  fc.constantFrom('p1', 'p2', 'records', 'x', 'patients', 'Patient', '%70%31', 'p%32', ''),
  fc.constantFrom(
    'P1', '.', '..', '...', '%2e', '%2E%2e', '.%2e', '..%20', '%2f', '%2F', '%5c', '\\', '%00', '%0a', '%252e%252e', '%2570%2532',
    ';jsessionid=1', 'p1;x', '..;', '%3B', '%3F', '%23', 'é', '%C3%A9', '%EF%BC%8E', '%C0%AE', '+', ',', 'p1,p2', '%2C',
    ' ', '%20', '~', '*', '%zz', '%2', '%',
  ),
);
/** Whole traversal payloads that climb from one patient to another, in the spellings various stacks decode. */
const traversal = fc.constantFrom(
  '../p2', '../../patients/p2', '%2e%2e/%2e%2e/patients/p2', '..%2f..%2fpatients%2fp2', '%2e%2e%2f%2e%2e%2fpatients%2fp2',
  '%252e%252e/%252e%252e/patients/p2', '%252e%252e%252f%252e%252e%252fpatients%252fp2', '..%5c..%5cpatients%5cp2',
  '..\\..\\patients\\p2', '..;/..;/patients/p2', '..%20/..%20/patients/p2', '%2e%2e%00/%2e%2e%00/patients/p2',
);
const separator = mostly(fc.constant('/'), fc.constantFrom('//', '%2f', '\\', '/./', '/../'));
const tail = fc
  .array(fc.tuple(separator, mostly(segment, traversal)), { maxLength: 3 })
  .map((pairs) => pairs.flat().join(''));
const path = fc.oneof(
  fc.tuple(mostly(fc.constant('/patients/'), fc.constantFrom('//', '', '*', 'http://x/patients/', '/%70atients/', '/Patients/', '/patients/%2e%2e/')), segment, tail),
  fc.tuple(mostly(fc.constant('/fhir/Observation'), fc.constantFrom('/fhir/%4Fbservation', '/fhir/Observation/', '//fhir/Observation')), fc.constant(''), mostly(fc.constant(''), tail)),
  fc.tuple(fc.constant('/'), segment, tail),
).map((parts) => parts.join(''));
const paramName = mostly(
  fc.constantFrom('patient', 'patient', 'subject', '_id', 'code'),
  fc.constantFrom('%70atient', 'Patient', 'PATIENT', 'patient[]', 'patient%5B0%5D', 'pa%74ient', '%2570atient', 'patient.name', 'patient:Patient', 'patient%20', '+patient', 'pati_ent', ''),
);
const paramValue = mostly(
  fc.constantFrom('p1', 'p2', 'Patient/p1', 'Patient/p2', 'Patient%2Fp2', 'p%31'),
  fc.constantFrom('Patient/', '', 'p1,p2', 'p1%2Cp2', 'p%2532', '%70%32', 'p1+', 'p2%00', 'http://x/Patient/p2', '..', 'Patient/../p2', 'patient/p2', 'p1;patient=p2', 'x=p2'),
);
const param = fc.tuple(paramName, mostly(fc.constant('='), fc.constantFrom('', '==')), paramValue).map((parts) => parts.join(''));
const query = fc.option(
  fc.tuple(fc.array(param, { maxLength: 3 }), mostly(fc.constant('&'), fc.constantFrom(';', '&&'))).map(([ps, sep]) => `?${ps.join(sep)}`),
  { nil: '' },
);
const fragment = mostly(fc.constant(''), fc.constantFrom('#x', '#/../p2', '#?patient=p2'));
const requestTarget = fc.tuple(path, query, fragment).map((parts) => parts.join(''));
const tokenPatient = fc.constantFrom('p1', 'p2');

/** WHATWG percent-decode: valid `%XX` become bytes, anything else stays; bytes read as UTF-8 with U+FFFD. */
function lenientDecode(text: string): string {
  const input = Buffer.from(text, 'utf8');
  const bytes: number[] = [];
  for (let i = 0; i < input.length; i++) {
    const hex = input.subarray(i + 1, i + 3).toString('latin1');
    if (input[i] === 0x25 && /^[0-9A-Fa-f]{2}$/.test(hex)) {
      bytes.push(Number.parseInt(hex, 16));
      i += 2;
    } else {
      bytes.push(input[i]!);
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

function stripReference(value: string): string {
  return value.replace(/^patient\//i, '');
}

/** Patients the default rules' upstream would see, reading a path and query pairs its own way. */
function patientsAddressed(segments: readonly string[], params: ReadonlyArray<readonly [string, string]>): string[] {
  const fromPath = segments[0]?.toLowerCase() === 'patients' && segments.length >= 2 ? [segments[1]!] : [];
  const fromQuery = params
    .filter(([name]) => name.toLowerCase().replace(/\[.*$/, '').replace(/[^a-z]/g, '') === 'patient')
    .flatMap(([, value]) => value.split(','))
    .map(stripReference);
  return [...fromPath, ...fromQuery];
}

/** Reading 1: a WHATWG URL parser (dot segments resolved, `\` as `/`), then `URLSearchParams`. */
function whatwgReading(raw: string): string[] {
  const url = new URL(raw, 'http://x');
  const segments = url.pathname.split('/').slice(1).map(lenientDecode);
  return patientsAddressed(segments, [...url.searchParams.entries()]);
}

/**
 * Reading 2: a careless server that decodes the whole path twice before splitting, strips `;`
 * parameters, resolves dot segments, trims trailing dots and spaces like Windows, and splits the
 * query on `&` and `;` with names and values decoded twice.
 */
function carelessReading(raw: string): string[] {
  const beforeFragment = raw.split('#')[0]!;
  const q = beforeFragment.indexOf('?');
  const rawPath = q === -1 ? beforeFragment : beforeFragment.slice(0, q);
  const rawQuery = q === -1 ? '' : beforeFragment.slice(q + 1);
  const decodedPath = lenientDecode(lenientDecode(rawPath)).replaceAll('\\', '/');
  const segments = posix
    .normalize(decodedPath.split('/').map(windowsSegment).join('/'))
    .split('/')
    .filter((s) => s !== '');
  const twice = (s: string) => lenientDecode(lenientDecode(s.replaceAll('+', ' ')));
  const params = rawQuery
    .split(/[&;]/)
    .filter((piece) => piece !== '')
    .map((piece): [string, string] => {
      const eq = piece.indexOf('=');
      return eq === -1 ? [twice(piece), ''] : [twice(piece.slice(0, eq)), twice(piece.slice(eq + 1))];
    });
  return patientsAddressed(segments, params);
}

/** Drops `;` parameters like Tomcat, then trims trailing spaces and dots like Windows (`.. ` is `..`). */
function windowsSegment(segment: string): string {
  const trimmed = segment.split(';')[0]!.replace(/ +$/, '');
  return /^\.+$/.test(trimmed) ? trimmed : trimmed.replace(/[. ]+$/, '');
}

function tryDecide(raw: string, pkbId: string): RouteMatch | GatewayError {
  try {
    return decideBtgAccess('GET', parseRequestTarget(raw), pkbId, policy);
  } catch (err) {
    if (err instanceof GatewayError) return err;
    throw err;
  }
}

describe('BTG access properties', () => {
  it('an accepted target addresses the token patient and only that patient, in every reading', () => {
    let accepted = 0;
    let refusedAsBadRequest = 0;
    fc.assert(
      fc.property(requestTarget, tokenPatient, (raw, pkbId) => {
        const decision = tryDecide(raw, pkbId);
        if (decision instanceof GatewayError) {
          if (decision.status === 400) refusedAsBadRequest++;
          return;
        }
        accepted++;
        expect(decision.pkbId).toBe(pkbId);
        const whatwg = whatwgReading(raw);
        expect(whatwg.length).toBeGreaterThan(0);
        expect(new Set([...whatwg, ...carelessReading(raw)])).toEqual(new Set([pkbId]));
      }),
      { numRuns: 20_000 },
    );
    // The grammar must actually reach both sides of the decision, or the property proves nothing.
    expect(accepted).toBeGreaterThan(500);
    expect(refusedAsBadRequest).toBeGreaterThan(500);
  });

  it('parsing and locating throw nothing but GatewayError 400, whatever the input', () => {
    const anything = fc.oneof(
      requestTarget,
      fc.string({ unit: 'binary', maxLength: 64 }).map((s) => `/${s}`),
      fc.string({ unit: 'grapheme', maxLength: 64 }),
      fc.string({ unit: fc.constantFrom('/', '%', '.', '2', 'e', 'f', 'F', '5', 'c', '?', '&', '=', ';', '+', 'p', '#', 'C', '0'), maxLength: 40 }).map((s) => `/${s}`),
    );
    fc.assert(
      fc.property(anything, (raw) => {
        try {
          policy.routes.locate(parseRequestTarget(raw));
        } catch (err) {
          expect(err).toBeInstanceOf(GatewayError);
          expect((err as GatewayError).status).toBe(400);
          expect((err as GatewayError).code).toBe('bad_request');
        }
      }),
      { numRuns: 20_000 },
    );
  });

  it('an accepted target is kept byte-identical, and its parts add up to it', () => {
    fc.assert(
      fc.property(requestTarget, (raw) => {
        let target;
        try {
          target = parseRequestTarget(raw);
        } catch {
          return;
        }
        expect(target.raw).toBe(raw);
        expect(target.rawPath + (raw.includes('?') ? `?${target.rawQuery}` : '')).toBe(raw);
      }),
      { numRuns: 5_000 },
    );
  });

  it('a request carrying the BTG header, in any spelling of its name, is never passed through', () => {
    const caseVariant = fc
      .array(fc.boolean(), { minLength: 13, maxLength: 13 })
      .map((upper) => [...'breaktheglass'].map((c, i) => (upper[i] ? c.toUpperCase() : c)).join(''));
    const otherHeaders = fc.array(fc.tuple(fc.constantFrom('Host', 'Authorization', 'X-Other'), fc.string()), { maxLength: 3 });
    fc.assert(
      fc.property(requestTarget, caseVariant, fc.string({ unit: 'binary-ascii', maxLength: 80 }), otherHeaders, (raw, name, value, others) => {
        const headers = [...others.flat(), name, value];
        const options = { btgPath: '/btg', btgHeader: 'breaktheglass', maxTokenBytes: 4096 };
        const result = classifyRequest('GET', raw, headers, options);
        expect(result.kind).not.toBe('passthrough');
      }),
    );
  });
});
