import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Span } from '@opentelemetry/api';
import type { Logger } from 'pino';
import { backoffDelay } from '../../common/backoff.ts';
import { sleep } from '../../common/sleep.ts';
import type { ChangeFeed, ChangeFeedBatch, ChangeFeedEntry } from '../../ports/change-feed.ts';
import { toTributaryError } from '../../ports/errors.ts';
import type { EventLog } from '../../ports/event-log.ts';
import { Topics } from '../../schemas/topics.ts';
import { toDlqRecord } from '../../consumers/runtime/dlq.ts';
import { SpanNames } from '../../observability/metrics.ts';
import { activeSpanContext, recordSpanError, recordTraceContext, SpanAttributes, startRecordSpan, withBatchSpan } from '../../observability/tracing.ts';

/**
 * The relay: copies a change feed (the SQLite store's outbox, or a MongoDB change stream) to the
 * event log in order, and commits the feed's position only after the log acknowledged every record
 * before it — a crash re-sends, never skips. A batch the log refuses (broker down) is kept and sent
 * again with back-off, forever; the feed keeps its changes meanwhile, so producers never notice.
 *
 * One relay at a time holds the feed's lease (renewed every round). A relay that loses it stops
 * committing, rewinds the feed and waits; the new holder starts from the committed position, so two
 * relays overlap for at most one batch, whose duplicates the consumers drop by document version.
 * A record over the log's size limit never blocks the feed: it goes to the DLQ (cut to the limit,
 * marked with its size) in its place, stage "relay", code OVERSIZE_RECORD.
 *
 * Traces: each relayed batch is a span (tributary.relay.batch), and each change event a span
 * (tributary.relay.record) under the trace context its document's writer left on it (the outbox
 * record's headers, or the document's field through the change stream); the record on the log
 * carries the relay span's context on to the stages.
 */

export interface ChangeFeedRelayOptions {
  feed: ChangeFeed;
  log: EventLog;
  logger: Logger;
  /** How long a read waits for a change before the round ends (a write of this process wakes it at once). */
  pollMs: number;
  /** Records per read and append. */
  batchRecords?: number;
  /** Lease time; another relay may take over after it lapses. */
  leaseMs?: number;
  /** Back-off while the log is unavailable. */
  retry?: { baseMs: number; maxMs: number };
  owner?: string;
}

export const RelayLogEvents = {
  started: 'relay.started',
  stopped: 'relay.stopped',
  appendFailed: 'relay.append_failed',
  readFailed: 'relay.read_failed',
  recovered: 'relay.recovered',
  leaseLost: 'relay.lease_lost',
  oversize: 'relay.oversize_record',
} as const;

export interface ChangeFeedRelayStatus {
  running: boolean;
  /** This process currently holds the lease. */
  active: boolean;
  relayed: number;
  consecutiveFailures: number;
  lastError: string | null;
}

export class ChangeFeedRelay {
  private readonly o: Required<Omit<ChangeFeedRelayOptions, 'owner'>> & { owner: string };
  private controller: AbortController | null = null;
  private loop: Promise<void> | null = null;
  private active = false;
  private relayed = 0;
  private failures = 0;
  private lastError: string | null = null;
  /** Rounds that read nothing new (everything written before the round began is on the log). */
  private emptyRounds = 0;
  /** The position committed last (an idle feed hands out the same one again: no write for it). */
  private committed: string | null = null;

  constructor(options: ChangeFeedRelayOptions) {
    this.o = {
      batchRecords: 500,
      leaseMs: 15_000,
      retry: { baseMs: 200, maxMs: 10_000 },
      owner: `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`,
      ...options,
    };
  }

  get status(): ChangeFeedRelayStatus {
    return { running: this.loop !== null, active: this.active, relayed: this.relayed, consecutiveFailures: this.failures, lastError: this.lastError };
  }

  start(): void {
    if (this.loop) return;
    this.controller = new AbortController();
    this.loop = this.run(this.controller.signal);
    this.o.logger.info({ event: RelayLogEvents.started, owner: this.o.owner, feed: this.o.feed.kind }, 'relay started');
  }

  /** Finishes the in-flight append (its position is committed if it was acknowledged), then releases the lease. */
  async stop(): Promise<void> {
    if (!this.loop) return;
    this.controller!.abort();
    await this.loop;
    this.loop = null;
    // a batch the log had not acknowledged when the loop ended was read but not committed: forget it
    try { await this.o.feed.rewind(); } catch { /* the feed's store already closed */ }
    try { await this.o.feed.releaseLease(this.o.owner); } catch { /* the feed's store already closed */ }
    this.active = false;
    this.o.logger.info({ event: RelayLogEvents.stopped, relayed: this.relayed }, 'relay stopped');
  }

  /** Resolves once everything written so far is on the log. For tools and tests. */
  async drained(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    // where the feed cannot count what is pending: two more empty rounds, so one began after this call
    const after = this.emptyRounds + 2;
    for (;;) {
      const { pending } = await this.o.feed.stats();
      if (pending === 0 || (pending === null && this.emptyRounds >= after)) return;
      if (Date.now() > deadline) throw new Error(`change feed not drained after ${timeoutMs} ms (${pending ?? 'unknown'} pending; last error: ${this.lastError ?? 'none'})`);
      await sleep(20);
    }
  }

  private async run(signal: AbortSignal): Promise<void> {
    let held: ChangeFeedBatch | null = null;
    while (!signal.aborted) {
      try {
        if (!(await this.o.feed.acquireLease(this.o.owner, this.o.leaseMs))) {
          if (this.active) await this.lostLease();
          held = null;
          await sleep(Math.min(this.o.leaseMs / 3, 2_000), signal);
          continue;
        }
        this.active = true;
        const batch: ChangeFeedBatch = held ?? await this.o.feed.read(this.o.batchRecords, this.o.pollMs, signal);
        if (signal.aborted && !held && batch.entries.length === 0) break;
        held = batch;
        await this.append(batch.entries);
        held = null;
        if (batch.position !== null && batch.position !== this.committed) {
          if (!(await this.o.feed.commit(this.o.owner, batch.position))) {
            await this.lostLease();
            continue;
          }
          this.committed = batch.position;
        }
        this.relayed += batch.entries.length;
        if (batch.entries.length === 0) this.emptyRounds++;
        if (this.failures > 0) this.o.logger.info({ event: RelayLogEvents.recovered, after: this.failures }, 'relay: the log acknowledges again');
        this.failures = 0;
        this.lastError = null;
      } catch (e) {
        // the log did not acknowledge (the batch is kept and sent again), or the feed could not be read
        const te = toTributaryError(e);
        this.failures++;
        this.lastError = `${te.code}: ${te.message}`;
        const delay = backoffDelay(this.failures, this.o.retry);
        this.o.logger.warn({ event: held ? RelayLogEvents.appendFailed : RelayLogEvents.readFailed, code: te.code, err: te.message, attempt: this.failures, delayMs: Math.round(delay), pending: held?.entries.length ?? null },
          held ? 'relay: the log did not acknowledge; retrying' : 'relay: reading the change feed failed; retrying');
        await sleep(delay, signal);
      }
    }
  }

  private async lostLease(): Promise<void> {
    this.active = false;
    this.committed = null;
    await this.o.feed.rewind();
    this.o.logger.warn({ event: RelayLogEvents.leaseLost, owner: this.o.owner }, 'relay lost its lease to another process; it relays from the committed position');
  }

  /** Appends a batch under its spans (see the class comment): a span per change event, ended once the log acknowledged it. */
  private async append(entries: ChangeFeedEntry[]): Promise<void> {
    if (entries.length === 0) return;
    await withBatchSpan(SpanNames.relayBatch, entries.map((e) => e.record.headers), { [SpanAttributes.records]: entries.length, [SpanAttributes.feed]: this.o.feed.kind }, async () => {
      const batch = activeSpanContext();
      const spans: Span[] = [];
      const traced = entries.map((e): ChangeFeedEntry => {
        const { span, headers } = startRecordSpan(SpanNames.relayRecord, recordTraceContext(e.record.headers), { [SpanAttributes.topic]: e.topic }, batch);
        // tracing off: the record keeps the context it came with
        if (!span.isRecording()) return e;
        spans.push(span);
        return { topic: e.topic, record: { ...e.record, headers: { ...e.record.headers, ...headers } } };
      });
      try {
        await this.appendEntries(traced);
      } catch (err) {
        for (const s of spans) recordSpanError(s, err);
        throw err;
      } finally {
        for (const s of spans) s.end();
      }
    });
  }

  /** Consecutive entries of one topic go in one append, in order; an oversize record goes to the DLQ in its place. */
  private async appendEntries(entries: ChangeFeedEntry[]): Promise<void> {
    const limit = this.o.log.capabilities.maxRecordBytes;
    const out = entries.map((e): ChangeFeedEntry => {
      const size = e.record.value?.byteLength ?? 0;
      if (size <= limit) return e;
      const message = `change event of ${size} bytes for key ${e.record.key ?? '(none)'} is over the ${limit}-byte record limit (TRIBUTARY_MAX_RECORD_BYTES); its document is not relayed`;
      this.o.logger.error({ event: RelayLogEvents.oversize, key: e.record.key, bytes: size, limit }, message);
      const rec = { topic: e.topic, partition: -1, offset: -1, key: e.record.key, value: e.record.value, headers: e.record.headers ?? {}, timestamp: e.record.timestamp ?? Date.now() };
      return { topic: Topics.dlq, record: toDlqRecord(rec, { stage: 'relay', code: 'OVERSIZE_RECORD', message, attempts: 1, firstSeenMs: Date.now(), maxValueBytes: limit }) };
    });
    for (let i = 0; i < out.length;) {
      let j = i;
      while (j < out.length && out[j]!.topic === out[i]!.topic) j++;
      await this.o.log.append(out[i]!.topic, out.slice(i, j).map((e) => e.record));
      i = j;
    }
  }
}
