import type { Writable } from 'node:stream';
import { HashChain } from './chain.js';
import type { AuditDraft, AuditRecord } from './record.js';
import { Serial } from './serial.js';
import type { AuditSink } from './sink.js';

/**
 * JSON lines on a stream, for log shippers. A stream cannot be read back, so every process starts a
 * new chain at seq 1 from the genesis hash: a collector verifies each run of an instance separately
 * (a seq 1 record marks a restart). Durable here means the stream accepted the write (its callback
 * fired without error); what happens after that is the collector's guarantee.
 */
export class StdoutAuditSink implements AuditSink {
  readonly name = 'stdout';
  readonly #stream: Writable;
  readonly #chain = new HashChain();
  readonly #serial = new Serial();

  constructor(stream: Writable = process.stdout) {
    this.#stream = stream;
  }

  async open(): Promise<void> {
    // A failed write is reported to its callback; without a listener the stream's 'error' event
    // would also crash the process.
    this.#stream.on('error', ignore);
  }

  append(drafts: readonly AuditDraft[]): Promise<AuditRecord[]> {
    // One batch at a time: a batch links to the head the previous one committed.
    return this.#serial.run(() => this.#append(drafts));
  }

  async #append(drafts: readonly AuditDraft[]): Promise<AuditRecord[]> {
    if (drafts.length === 0) return [];
    await this.check();
    const { records, lines } = this.#chain.linkWithLines(drafts);
    await new Promise<void>((resolve, reject) => {
      this.#stream.write(lines.join(''), (err) => (err ? reject(err) : resolve()));
    });
    this.#chain.advance(records);
    return records;
  }

  async check(): Promise<void> {
    if (this.#stream.destroyed || !this.#stream.writable) throw new Error('audit output stream is closed');
  }

  async close(): Promise<void> {
    await this.#serial.run(async () => undefined);
    this.#stream.off('error', ignore);
  }
}

function ignore(): void {}
