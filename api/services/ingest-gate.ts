import type { EventLog } from '../../ports/event-log.ts';
import { TributaryError } from '../../ports/errors.ts';
import { CDC_TOPIC, PipelineConsumers, Topics } from '../../schemas/topics.ts';

/**
 * Back-pressure on writes (POST /v1/content): the pipeline's backlog is the change events not yet
 * cleaned (the CDC topic past the clean group's offsets) plus the cleaned documents not yet embedded
 * (the cleaned topic past the embed group's). Past `maxBacklog` a write is refused with
 * INGEST_BACKLOG_FULL (429) and a Retry-After: the time the pipeline needs, at the rate it has been
 * draining, to get back under half the limit (1–30 s). Deletes are never refused: they shrink the
 * index, and a producer must always be able to take content down.
 *
 * The backlog is read from the log's offsets (cheap SQLite reads in the embedded default, admin
 * requests on Kafka), at most once per `refreshMs`; writes in between use the last reading plus
 * what this process wrote since. A reading that fails or takes longer than `readTimeoutMs` (the
 * broker is down: the store still takes writes, which wait in its outbox) never fails or delays a
 * write: the last reading stands, or the write is admitted when there is none.
 */
export interface IngestGateOptions {
  log: EventLog;
  maxBacklog: number;
  /** How long a backlog reading is used (default 100 ms embedded, 1 s on Kafka). */
  refreshMs?: number;
  /** How long a write waits for a backlog reading before it goes on without it (default 250 ms). */
  readTimeoutMs?: number;
  now?: () => number;
}

interface Reading { atMs: number; backlog: number; consumed: number }

const STAGES = [
  { topic: CDC_TOPIC, group: PipelineConsumers.clean.group },
  { topic: Topics.cleaned, group: PipelineConsumers.embed.group },
] as const;

export class IngestGate {
  private readonly o: Required<Omit<IngestGateOptions, 'refreshMs' | 'readTimeoutMs'>> & { refreshMs: number; readTimeoutMs: number };
  private last: Reading | null = null;
  /** Events per second the pipeline consumed between the last two readings. */
  private drainRate = 0;
  private writtenSince = 0;
  private reading: Promise<Reading> | null = null;

  constructor(options: IngestGateOptions) {
    this.o = { now: () => Date.now(), ...options, refreshMs: options.refreshMs ?? (options.log.kind === 'embedded' ? 100 : 1_000), readTimeoutMs: options.readTimeoutMs ?? 250 };
  }

  /** Throws INGEST_BACKLOG_FULL when the backlog is over the limit; else counts `documents` toward it. */
  async admit(documents: number): Promise<void> {
    if (this.o.maxBacklog <= 0) return;
    const r = await this.current();
    if (!r) return; // no reading yet (the log does not answer): the write goes on
    const backlog = r.backlog + this.writtenSince;
    if (backlog > this.o.maxBacklog) {
      const excess = backlog - this.o.maxBacklog / 2;
      const seconds = this.drainRate > 0 ? excess / this.drainRate : 5;
      const retryAfterMs = Math.round(Math.min(30, Math.max(1, seconds)) * 1000);
      throw new TributaryError('INGEST_BACKLOG_FULL', `the pipeline has ${backlog} change events waiting, over the limit of ${this.o.maxBacklog} (TRIBUTARY_INGEST_MAX_BACKLOG); write again after Retry-After`, { retryAfterMs });
    }
    this.writtenSince += documents;
  }

  private async current(): Promise<Reading | null> {
    const now = this.o.now();
    if (this.last && now - this.last.atMs < this.o.refreshMs) return this.last;
    this.reading ??= this.read().then((r) => { this.accept(r); return r; }).finally(() => { this.reading = null; });
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<null>((resolve) => { timer = setTimeout(() => resolve(null), this.o.readTimeoutMs); });
    try {
      return (await Promise.race([this.reading, late])) ?? this.last;
    } catch {
      return this.last; // the log did not answer: the last reading stands
    } finally {
      clearTimeout(timer);
    }
  }

  private accept(r: Reading): void {
    if (this.last && r.atMs <= this.last.atMs) return;
    if (this.last) {
      const rate = ((r.consumed - this.last.consumed) * 1000) / (r.atMs - this.last.atMs);
      // smoothed, so one idle reading does not make Retry-After jump
      this.drainRate = this.drainRate === 0 ? rate : 0.7 * this.drainRate + 0.3 * rate;
    }
    this.writtenSince = 0;
    this.last = r;
  }

  private async read(): Promise<Reading> {
    const atMs = this.o.now();
    let backlog = 0;
    let consumed = 0;
    for (const { topic, group } of STAGES) {
      const [ends, committed] = await Promise.all([this.o.log.offsets(topic), this.o.log.groupOffsets(group)]);
      for (const e of ends) {
        const c = committed.find((g) => g.topic === topic && g.partition === e.partition)?.committed ?? e.start;
        backlog += Math.max(0, e.end - Math.max(c, e.start));
        consumed += c;
      }
    }
    return { atMs, backlog, consumed };
  }
}
