import { GatewayError } from '../errors.js';
import type { GrantStore } from '../store/grant-store.js';

export interface PatientLookupSettings {
  method: 'GET' | 'HEAD';
  /** Path template with `{pkbId}`. */
  path: string;
  headers: Readonly<Record<string, string>>;
  cacheSeconds: number;
  timeoutMs: number;
}

/**
 * Asks upstream whether a patient exists before a grant is issued (SPEC 2.1 check 5).
 * 2xx: exists; 404: not found; anything else, or no answer: 502, because an outage must not be
 * reported as "Patient not found". Only existence is cached, so a new patient shows up at once.
 * Uses global fetch: this is a cold path, and msw can stand in for upstream in unit tests.
 */
export class PatientLookup {
  private readonly base: URL;

  constructor(
    upstreamUrl: string,
    private readonly settings: PatientLookupSettings,
    private readonly store: GrantStore,
  ) {
    this.base = new URL(upstreamUrl);
  }

  async requireExists(pkbId: string): Promise<void> {
    if (await this.store.knowsPatient(pkbId)) return;
    const status = await this.ask(pkbId);
    if (status === 404) throw new GatewayError(404, 'patient_not_found', 'Patient not found');
    if (status < 200 || status > 299) {
      throw new GatewayError(502, 'upstream_unavailable', `Patient lookup answered ${status}`);
    }
    await this.store.rememberPatient(pkbId, this.settings.cacheSeconds);
  }

  private async ask(pkbId: string): Promise<number> {
    const url = new URL(this.base.pathname.replace(/\/+$/, '') + this.settings.path.replaceAll('{pkbId}', encodeURIComponent(pkbId)), this.base);
    try {
      const res = await fetch(url, {
        method: this.settings.method,
        headers: { accept: 'application/json', ...this.settings.headers },
        signal: AbortSignal.timeout(this.settings.timeoutMs),
        redirect: 'manual',
      });
      // Only the status matters; release the connection without waiting for the body.
      void res.body?.cancel().catch(() => undefined);
      return res.status;
    } catch (err) {
      throw new GatewayError(502, 'upstream_unavailable', 'Patient lookup failed', {}, { cause: err });
    }
  }
}
