import { http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PatientLookup } from '../../../src/btg/patient-lookup.js';
import { MemoryGrantStore } from '../../../src/store/memory-store.js';

const seen: Request[] = [];
const server = setupServer(
  http.get('http://pkb.test/api/patients/:id', ({ request, params }) => {
    seen.push(request);
    if (params.id === 'known') return HttpResponse.json({ ok: true });
    if (params.id === 'broken') return new HttpResponse(null, { status: 503 });
    if (params.id === 'offline') return HttpResponse.error();
    return new HttpResponse(null, { status: 404 });
  }),
);

beforeAll(() => server.listen({ onUnhandledRequest: 'error' }));
afterEach(() => {
  seen.length = 0;
});
afterAll(() => server.close());

const lookup = (store = new MemoryGrantStore(100)) =>
  new PatientLookup('http://pkb.test/api', { method: 'GET', path: '/patients/{pkbId}', headers: { 'x-service-key': 'k' }, cacheSeconds: 30, timeoutMs: 1000 }, store);

describe('PatientLookup', () => {
  it('asks upstream (under its base path, with the service headers) and caches existence', async () => {
    const patients = lookup();
    await patients.requireExists('known');
    await patients.requireExists('known');
    expect(seen).toHaveLength(1);
    expect(new URL(seen[0]!.url).pathname).toBe('/api/patients/known');
    expect(seen[0]!.headers.get('x-service-key')).toBe('k');
  });

  it('answers 404 "Patient not found" for an unknown patient, and does not cache that', async () => {
    const patients = lookup();
    await expect(patients.requireExists('ghost')).rejects.toMatchObject({ status: 404, code: 'patient_not_found', message: 'Patient not found' });
    await expect(patients.requireExists('ghost')).rejects.toMatchObject({ status: 404 });
    expect(seen).toHaveLength(2);
  });

  it('reports an upstream outage as 502, never as "not found"', async () => {
    await expect(lookup().requireExists('broken')).rejects.toMatchObject({ status: 502, code: 'upstream_unavailable' });
    await expect(lookup().requireExists('offline')).rejects.toMatchObject({ status: 502, code: 'upstream_unavailable' });
  });
});
