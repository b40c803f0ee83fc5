import type { Logger } from 'pino';
import type { DocumentStore } from '../../ports/document-store.ts';
import { toTributaryError } from '../../ports/errors.ts';
import type { VectorIndex } from '../../ports/vector-index.ts';
import type { Metrics } from '../../observability/metrics.ts';
import { PROBE_CATEGORY, PROBE_SOURCE } from '../../schemas/content.ts';
import { documentIdFor } from '../../schemas/ids.ts';
import { sleep } from '../../common/sleep.ts';
import { versionSeconds } from '../../schemas/version.ts';

/**
 * The continuous freshness probe: every `intervalMs` it rewrites one synthetic document in the store
 * (its own, one per process: source `tributary.probe`, category `tributary-probe`) and times how long
 * the whole pipeline takes to make that version searchable — store → change event → clean → embed →
 * index — by watching the document's version in the index. The figure goes to
 * `tributary_freshness_probe_seconds`; a probe slower than the SLO (or never searchable within
 * `timeoutMs`) counts in `tributary_freshness_probe_over_slo_total`, and the rolling p99 of the last
 * probes crossing the SLO is logged (and crossing back). The document is left out of search results,
 * answers, fine-tuning datasets and counts.
 */

export interface FreshnessProbeOptions {
  store: Pick<DocumentStore, 'put' | 'delete'>;
  index: Pick<VectorIndex, 'documentVersions'>;
  metrics: Metrics;
  logger: Logger;
  intervalMs: number;
  sloMs: number;
  /** Which process writes it (its document's externalId): one probe document per process. */
  instance: string;
  /** How long one probe may wait to become searchable; default max(60 s, 5 × SLO). */
  timeoutMs?: number;
  /** How often the index is read while waiting; default 20 ms. */
  pollMs?: number;
}

const WINDOW = 100;

export class FreshnessProbe {
  private readonly o: Required<FreshnessProbeOptions>;
  private readonly abort = new AbortController();
  private loop: Promise<void> | null = null;
  private seq = 0;
  private readonly recent: number[] = [];
  private overSlo = false;
  readonly docId: string;

  constructor(options: FreshnessProbeOptions) {
    this.o = { timeoutMs: Math.max(60_000, 5 * options.sloMs), pollMs: 20, ...options };
    this.docId = documentIdFor(PROBE_SOURCE, options.instance);
    this.o.metrics.freshnessSloSeconds.set(options.sloMs / 1000);
  }

  get running(): boolean { return this.loop !== null; }

  start(): void {
    if (this.loop) return;
    this.loop = this.run();
  }

  /** Stops probing and deletes the probe's document, so a process that goes away leaves none behind. */
  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
    if (!this.loop) return;
    this.loop = null;
    await this.o.store.delete(this.docId).catch((e: unknown) => {
      this.o.logger.warn({ event: 'freshness.probe_cleanup_failed', err: toTributaryError(e).message }, 'the freshness probe could not delete its document');
    });
  }

  /** One probe: writes the document and waits until that version is searchable; the seconds it took, or null. */
  async probeOnce(): Promise<number | null> {
    const { store, index, metrics } = this.o;
    const before = (await index.documentVersions([this.docId])).get(this.docId);
    const started = performance.now();
    // a version written before this probe (one that timed out and lands late) is not this probe's:
    // versions carry the second they were written, and a timed-out write is at least timeoutMs old
    const notBefore = Math.floor(Date.now() / 1000) - Math.min(30, Math.floor(this.o.timeoutMs / 2000));
    this.seq++;
    try {
      await store.put([{
        source: PROBE_SOURCE, externalId: this.o.instance, category: PROBE_CATEGORY, author: PROBE_SOURCE,
        title: 'Freshness probe', content: `Freshness probe ${this.seq} of ${this.o.instance} at ${new Date().toISOString()}.`,
      }]);
    } catch (e) {
      metrics.freshnessProbeFailures.inc({ reason: 'write' });
      this.o.logger.warn({ event: 'freshness.probe_write_failed', err: toTributaryError(e).message });
      return null;
    }
    const deadline = started + this.o.timeoutMs;
    while (!this.abort.signal.aborted) {
      const now = (await index.documentVersions([this.docId])).get(this.docId);
      const mine = now !== undefined && !now.deleted && now.version !== null && versionSeconds(now.version) >= notBefore;
      if (mine && (before === undefined || now.version! > (before.version ?? 0))) {
        const seconds = (performance.now() - started) / 1000;
        metrics.freshnessProbeSeconds.observe(seconds);
        this.record(seconds);
        return seconds;
      }
      if (performance.now() > deadline) {
        metrics.freshnessProbeFailures.inc({ reason: 'timeout' });
        this.record(Infinity);
        this.o.logger.warn({ event: 'freshness.probe_timeout', timeoutMs: this.o.timeoutMs }, `the freshness probe's document was not searchable after ${this.o.timeoutMs} ms`);
        return null;
      }
      await sleep(this.o.pollMs, this.abort.signal);
    }
    return null;
  }

  private record(seconds: number): void {
    if (seconds * 1000 > this.o.sloMs) this.o.metrics.freshnessProbeOverSlo.inc();
    this.recent.push(seconds);
    if (this.recent.length > WINDOW) this.recent.shift();
    const sorted = [...this.recent].sort((a, b) => a - b);
    const p99 = sorted[Math.min(sorted.length - 1, Math.ceil(0.99 * sorted.length) - 1)]!;
    const over = p99 * 1000 > this.o.sloMs;
    if (over !== this.overSlo) {
      this.overSlo = over;
      const fields = { event: over ? 'freshness.slo_breached' : 'freshness.slo_recovered', p99Ms: Number.isFinite(p99) ? Math.round(p99 * 1000) : null, sloMs: this.o.sloMs, probes: sorted.length };
      if (over) this.o.logger.warn(fields, `freshness p99 over the last ${sorted.length} probes passed the SLO of ${this.o.sloMs} ms`);
      else this.o.logger.info(fields, `freshness p99 is back under the SLO of ${this.o.sloMs} ms`);
    }
  }

  private async run(): Promise<void> {
    // the first probe after one interval: a process that just started has nothing to measure yet
    await sleep(this.o.intervalMs, this.abort.signal);
    while (!this.abort.signal.aborted) {
      const t0 = performance.now();
      try {
        await this.probeOnce();
      } catch (e) {
        // the index could not be read: counted, and the next probe tries again
        this.o.metrics.freshnessProbeFailures.inc({ reason: 'read' });
        this.o.logger.warn({ event: 'freshness.probe_failed', err: toTributaryError(e).message });
      }
      await sleep(Math.max(0, this.o.intervalMs - (performance.now() - t0)), this.abort.signal);
    }
  }
}
