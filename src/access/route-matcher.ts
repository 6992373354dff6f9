import type { RouteRule } from '../config/schema.js';
import { GatewayError } from '../errors.js';
import { isValidId } from '../identifiers.js';
import type { RequestTarget } from './request-target.js';

/** Which configured rule located the patient, and the patient it located. */
export interface RouteMatch {
  rule: string;
  pkbId: string;
}

export interface RouteMatcher {
  /** The patient the target addresses, `undefined` when no rule matches; 400 when that is ambiguous. */
  locate(target: RequestTarget): RouteMatch | undefined;
}

const PKB_ID = '{pkbId}';
const FHIR_PATIENT_PREFIX = 'Patient/';
/** Literal rule segments are written decoded and may only use what a decoded request segment may hold. */
const LITERAL_SEGMENT = /^[A-Za-z0-9\-._~!$&'()+,=:@]+$/;
/** Plain, and with a letter or digit: names are compared loosely on those alone. */
const QUERY_NAME = /^(?=.*[A-Za-z0-9])[A-Za-z0-9\-._:~!$'()*,@]+$/;

type Segment = { kind: 'literal'; text: string } | { kind: 'pkbId' } | { kind: 'one' } | { kind: 'rest' };

interface CompiledRule {
  label: string;
  segments: readonly Segment[];
  query: string | undefined;
}

/** Compiles the configured rules once at start-up; a rule that cannot mean anything sensible throws. */
export function compileRoutes(rules: readonly RouteRule[]): RouteMatcher {
  const compiled = rules.map(compileRule);
  const queryNames = [...new Set(compiled.flatMap((r) => (r.query === undefined ? [] : [r.query])))];
  return { locate: (target) => locate(compiled, queryNames, target) };
}

function compileRule(rule: RouteRule): CompiledRule {
  const fail = (why: string): never => {
    throw new Error(`btg.routes rule ${JSON.stringify(rule)}: ${why}`);
  };
  if (!rule.path.startsWith('/')) fail('path must start with /');
  const texts = rule.path === '/' ? [] : rule.path.slice(1).split('/');
  const segments = texts.map((text, i): Segment => {
    if (text === PKB_ID) return { kind: 'pkbId' };
    if (text === '*') return { kind: 'one' };
    if (text === '**') return i === texts.length - 1 ? { kind: 'rest' } : fail('** is only allowed as the last segment');
    if (text === '') return fail('empty path segments (// or a trailing /) are not allowed');
    if (/^\.+$/.test(text)) return fail(`dot segment ${JSON.stringify(text)} can never match`);
    if (/[{}]/.test(text)) return fail(`unknown placeholder in ${JSON.stringify(text)}; only whole-segment {pkbId} exists`);
    if (text.includes('*')) return fail(`wildcards must be whole segments (* or **), not ${JSON.stringify(text)}`);
    if (!LITERAL_SEGMENT.test(text)) return fail(`literal segment ${JSON.stringify(text)} must be written decoded, without % ; ? # \\ or spaces`);
    return { kind: 'literal', text };
  });
  const idSegments = segments.filter((s) => s.kind === 'pkbId').length;
  if (idSegments > 1) fail('{pkbId} may appear only once');
  if (idSegments === 1 && rule.query !== undefined) fail('use either a {pkbId} segment or query, not both');
  if (idSegments === 0 && rule.query === undefined) fail('needs a {pkbId} segment or a query parameter naming the patient');
  if (rule.query !== undefined && !QUERY_NAME.test(rule.query)) fail(`query parameter name ${JSON.stringify(rule.query)} must be written plainly (unencoded) and hold a letter or digit`);
  const label = rule.query === undefined ? rule.path : `${rule.path}?${rule.query}=${PKB_ID}`;
  return { label, segments, query: rule.query };
}

/**
 * Every rule whose path matches contributes the patient it locates, and so does every configured
 * patient query parameter present in the target (whatever the path): upstream may honour either, so
 * they must all agree. The first matching rule in config order names the match.
 */
function locate(rules: readonly CompiledRule[], queryNames: readonly string[], target: RequestTarget): RouteMatch | undefined {
  const found: RouteMatch[] = [];
  for (const rule of rules) {
    const path = matchPath(rule.segments, target.segments);
    if (path === undefined) continue;
    const pkbId = rule.query === undefined ? checkPatientId(path.idSegment) : patientFromQuery(target, rule.query);
    if (pkbId !== undefined) found.push({ rule: rule.label, pkbId });
  }
  const first = found[0];
  if (first === undefined) return undefined;
  const located = [...found.map((m) => m.pkbId), ...queryNames.map((name) => patientFromQuery(target, name))];
  if (located.some((id) => id !== undefined && id !== first.pkbId)) {
    throw new GatewayError(400, 'bad_request', 'The request addresses more than one patient');
  }
  return first;
}

/** `undefined` when the path does not match; `idSegment` is `''` for rules without `{pkbId}`. */
function matchPath(rule: readonly Segment[], segments: readonly string[]): { idSegment: string } | undefined {
  let idSegment = '';
  for (const [i, part] of rule.entries()) {
    if (part.kind === 'rest') return { idSegment };
    const segment = segments[i];
    if (segment === undefined) return undefined;
    if (part.kind === 'literal' && segment !== part.text) return undefined;
    if (part.kind === 'one' && segment === '') return undefined;
    if (part.kind === 'pkbId') idSegment = segment;
  }
  return segments.length === rule.length ? { idSegment } : undefined;
}

function checkPatientId(pkbId: string): string {
  if (!isValidId(pkbId)) {
    throw new GatewayError(400, 'bad_request', 'The patient id in the request is not 1-128 characters of A-Z a-z 0-9 . _ : @ -');
  }
  return pkbId;
}

/**
 * The patient named by query parameter `name`, `undefined` when absent. Any parameter some framework
 * could take for `name` (case, encoding, `[]` suffix, `.`/`_` mangling, double encoding) counts as a
 * spelling of it: more than one, or an unusual spelling, is ambiguous rather than a guess.
 */
function patientFromQuery(target: RequestTarget, name: string): string | undefined {
  const key = looseKey(name);
  const params = target.query.filter((p) => looseKey(p.rawName) === key);
  const param = params[0];
  if (param === undefined) return undefined;
  const ambiguous = (why: string): never => {
    throw new GatewayError(400, 'bad_request', `Ambiguous patient query parameter ${name}: ${why}`);
  };
  if (params.length > 1) ambiguous('given more than once');
  if (param.rawName !== name) ambiguous(`send it spelled exactly "${name}"`);
  const value = param.value;
  if (value === '') ambiguous('empty value');
  if (value.includes(',')) ambiguous('a list of patients is not allowed');
  const id = value.startsWith(FHIR_PATIENT_PREFIX) ? value.slice(FHIR_PATIENT_PREFIX.length) : value;
  if (id === '') ambiguous(`"${FHIR_PATIENT_PREFIX}" without an id`);
  return checkPatientId(id);
}

/** Deliberately over-inclusive: two names with one key might be one parameter to some upstream. */
function looseKey(rawName: string): string {
  let name = rawName;
  for (let round = 0; round < 4; round++) name = lenientDecode(name.replaceAll('+', ' '));
  const folded = name.normalize('NFKC').toUpperCase().toLowerCase();
  const bracket = folded.indexOf('[');
  return (bracket === -1 ? folded : folded.slice(0, bracket)).replace(/[^a-z0-9]/g, '');
}

function lenientDecode(text: string): string {
  return text.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => {
    try {
      return decodeURIComponent(run);
    } catch {
      return run;
    }
  });
}
