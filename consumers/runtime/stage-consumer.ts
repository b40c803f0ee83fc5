import type { Span } from '@opentelemetry/api';
import type { Logger } from 'pino';
import { failureScope, toTributaryError, TributaryError } from '../../ports/errors.ts';
import type { BatchContext, EventLog, LogRecord, RecordBatch, Subscription } from '../../ports/event-log.ts';
import { Topics } from '../../schemas/topics.ts';
import { LogEvents, SpanNames, type Metrics } from '../../observability/metrics.ts';
import { SpanAttributes, withBatchSpan } from '../../observability/tracing.ts';
import { backoffDelay, type BackoffPolicy } from '../../common/backoff.ts';
import { sleep } from '../../common/sleep.ts';
import { toDlqRecord } from './dlq.ts';

/**
 * A stage processes a batch and reports per-record failures, or throws; it never decides what a
 * failure means. The runtime does, for every stage, by the error's scope (ports/errors.ts,
 * `failureScope`):
 *  - batch-scoped (a dependency is down: registry, store, index, embedder, LLM, log; our own
 *    configuration), thrown or reported for a record: the whole batch is kept and retried with
 *    back-off for as long as it lasts, the partition making no progress; the consumer reports
 *    degraded meanwhile (`status`, served by /healthz and /readyz). Never sent to the DLQ: the
 *    records themselves are fine.
 *  - record-scoped, reported for a record: retried up to `maxAttempts` when retryable, then
 *    dead-lettered with the original bytes; non-retryable ones go to the DLQ at once.
 *  - record-scoped but thrown, so naming no record (e.g. a store refusing one document of a write
 *    of many, or a bug): the records are run again one at a time, so the failure lands on its own
 *    record and the others go through.
 *
 * Each batch is a span (tributary.stage.batch) whose parent is the trace context of the batch's
 * first traced record and which links the others; the stage runs inside it (its embedder and index
 * calls are its children). A stage that writes records on gives each its own record's context.
 */
export interface RecordFailure {
  record: LogRecord;
  error: TributaryError;
}

export interface Stage {
  readonly name: string;
  process(records: LogRecord[], signal: AbortSignal): Promise<RecordFailure[]>;
}

export interface StageConsumerOptions {
  log: EventLog;
  stage: Stage;
  group: string;
  topics: string[];
  batch: { maxRecords: number; maxBytes: number; maxWaitMs: number };
  retry: BackoffPolicy & { maxAttempts: number };
  logger: Logger;
  metrics: Metrics;
  dlqTopic?: string;
}

export class StageConsumer {
  private subscription: Subscription | null = null;
  private readonly o: StageConsumerOptions;
  /** consecutive batch-scoped failures (a dependency is down), for status reporting */
  private batchFailures = 0;
  private lastError: string | null = null;

  constructor(options: StageConsumerOptions) {
    this.o = options;
  }

  get name(): string { return this.o.stage.name; }
  get running(): boolean { return this.subscription?.running ?? false; }
  get status(): { name: string; group: string; running: boolean; degraded: boolean; lastError: string | null } {
    return { name: this.name, group: this.o.group, running: this.running, degraded: this.batchFailures > 0, lastError: this.lastError };
  }

  start(): void {
    if (this.subscription) return;
    this.subscription = this.o.log.subscribe(
      { group: this.o.group, topics: this.o.topics, fromBeginning: true, maxBatchRecords: this.o.batch.maxRecords, maxBatchBytes: this.o.batch.maxBytes, maxWaitMs: this.o.batch.maxWaitMs },
      (batch, ctx) => this.handle(batch, ctx),
    );
    this.o.metrics.consumerRunning.set({ consumer: this.name }, 1);
    this.o.logger.info({ event: LogEvents.consumerStarted, consumer: this.name, group: this.o.group, topics: this.o.topics });
  }

  /** Drains the in-flight batch, commits, and leaves the group. */
  async stop(): Promise<void> {
    const s = this.subscription;
    if (!s) return;
    await s.stop();
    this.o.metrics.consumerRunning.set({ consumer: this.name }, 0);
    this.o.logger.info({ event: LogEvents.consumerStopped, consumer: this.name });
  }

  private async handle(batch: RecordBatch, ctx: BatchContext): Promise<void> {
    await withBatchSpan(SpanNames.stageBatch, batch.records.map((r) => r.headers), {
      [SpanAttributes.stage]: this.o.stage.name, [SpanAttributes.group]: this.o.group, [SpanAttributes.topic]: batch.topic,
      [SpanAttributes.partition]: String(batch.partition), [SpanAttributes.records]: batch.records.length,
    }, (span) => this.process(batch, ctx, span));
  }

  private async process(batch: RecordBatch, ctx: BatchContext, span: Span): Promise<void> {
    const { stage, retry, metrics, logger } = this.o;
    const started = performance.now();
    const firstSeen = Date.now();
    let attempt = 1;
    const dead: Array<{ record: LogRecord; error: TributaryError; attempts: number }> = [];
    // a record over the log's size limit (written by a producer with a bigger limit) is poison: DLQ at once
    const limit = this.o.log.capabilities.maxRecordBytes;
    let pending = batch.records;
    if (pending.some((r) => (r.value?.byteLength ?? 0) > limit)) {
      pending = [];
      for (const r of batch.records) {
        const size = r.value?.byteLength ?? 0;
        if (size <= limit) { pending.push(r); continue; }
        const error = new TributaryError('OVERSIZE_RECORD', `record of ${size} bytes exceeds the ${limit}-byte limit (TRIBUTARY_MAX_RECORD_BYTES)`);
        metrics.recordsFailed.inc({ stage: stage.name, code: error.code });
        dead.push({ record: r, error, attempts: 1 });
      }
    }
    while (pending.length > 0) {
      const failures = await this.run(pending, ctx, span);
      const retryable: RecordFailure[] = [];
      for (const f of failures) {
        metrics.recordsFailed.inc({ stage: stage.name, code: f.error.code });
        if (f.error.retryable && attempt < retry.maxAttempts) retryable.push(f);
        else dead.push({ record: f.record, error: f.error, attempts: attempt });
      }
      metrics.recordsProcessed.inc({ stage: stage.name, outcome: 'ok' }, pending.length - failures.length);
      if (retryable.length === 0) break;
      const retryAfter = Math.max(0, ...retryable.map((f) => f.error.retryAfterMs ?? 0));
      const delay = backoffDelay(attempt, retry, retryAfter);
      logger.info({ event: LogEvents.stageRetry, stage: stage.name, records: retryable.length, attempt, delayMs: Math.round(delay), code: retryable[0]!.error.code });
      span.addEvent(LogEvents.stageRetry, { [SpanAttributes.errorCode]: retryable[0]!.error.code, records: retryable.length, attempt });
      await ctx.heartbeat();
      await sleep(delay, ctx.signal);
      if (ctx.signal.aborted) throw new Error('stopping during retry back-off; batch will be redelivered');
      attempt++;
      pending = retryable.map((f) => f.record).sort((a, b) => a.offset - b.offset);
    }
    if (dead.length > 0) {
      const dlqTopic = this.o.dlqTopic ?? Topics.dlq;
      // the DLQ write must be acknowledged before the offsets are committed; if it fails the batch is redone
      await this.o.log.append(dlqTopic, dead.map((d) => toDlqRecord(d.record, {
        stage: stage.name, code: d.error.code, message: d.error.message, attempts: d.attempts, firstSeenMs: firstSeen, maxValueBytes: limit,
      })));
      for (const d of dead) {
        metrics.dlqRecords.inc({ stage: stage.name, code: d.error.code });
        logger.warn({ event: LogEvents.stageDlq, stage: stage.name, code: d.error.code, err: d.error.message, topic: d.record.topic, partition: d.record.partition, offset: d.record.offset });
      }
      metrics.recordsProcessed.inc({ stage: stage.name, outcome: 'dlq' }, dead.length);
      span.setAttribute(SpanAttributes.failures, dead.length);
      span.addEvent(LogEvents.stageDlq, { records: dead.length, [SpanAttributes.errorCode]: dead[0]!.error.code });
    }
    metrics.batchSeconds.observe({ stage: stage.name }, (performance.now() - started) / 1000);
    logger.debug({ event: LogEvents.stageBatch, stage: stage.name, topic: batch.topic, partition: batch.partition, records: batch.records.length, dlq: dead.length, ms: Math.round(performance.now() - started) });
  }

  /**
   * Runs the stage on `records` until no failure concerns the batch, and returns the record-scoped
   * ones. A batch-scoped failure, thrown or reported, keeps every record: they are all tried again
   * after a back-off, for as long as it lasts. A record-scoped error thrown for several records names
   * none of them: they are run one at a time, so it fails only the record it belongs to.
   */
  private async run(records: LogRecord[], ctx: BatchContext, span: Span): Promise<RecordFailure[]> {
    for (;;) {
      let failures: RecordFailure[];
      try {
        failures = await this.o.stage.process(records, ctx.signal);
      } catch (err) {
        if (ctx.signal.aborted) throw err;
        if (failureScope(err) === 'batch') {
          await this.holdBatch(toTributaryError(err), ctx, span);
          continue;
        }
        const error = toTributaryError(err);
        if (records.length > 1) return this.runOneByOne(records, error, ctx, span);
        failures = [{ record: records[0]!, error }];
      }
      const held = failures.find((f) => failureScope(f.error) === 'batch');
      if (!held) {
        this.batchFailures = 0;
        this.lastError = null;
        return failures;
      }
      await this.holdBatch(held.error, ctx, span);
    }
  }

  private async runOneByOne(records: LogRecord[], error: TributaryError, ctx: BatchContext, span: Span): Promise<RecordFailure[]> {
    this.o.logger.info({ event: LogEvents.stageRetry, stage: this.o.stage.name, records: records.length, code: error.code, err: error.message, oneByOne: true });
    span.addEvent(LogEvents.stageRetry, { [SpanAttributes.errorCode]: error.code, records: records.length, oneByOne: true });
    const failures: RecordFailure[] = [];
    for (const r of records) failures.push(...await this.run([r], ctx, span));
    return failures;
  }

  /** A dependency is down: the consumer is degraded; waits (back-off, Retry-After) before the batch is tried again. */
  private async holdBatch(error: TributaryError, ctx: BatchContext, span: Span): Promise<void> {
    const { stage, retry, metrics, logger } = this.o;
    this.batchFailures++;
    this.lastError = `${error.code}: ${error.message}`;
    metrics.recordsFailed.inc({ stage: stage.name, code: error.code });
    const delay = backoffDelay(this.batchFailures, retry, error.retryAfterMs);
    logger.warn({ event: LogEvents.stageInfraError, stage: stage.name, code: error.code, err: error.message, attempt: this.batchFailures, delayMs: Math.round(delay) });
    span.addEvent(LogEvents.stageInfraError, { [SpanAttributes.errorCode]: error.code, attempt: this.batchFailures });
    await ctx.heartbeat();
    await sleep(delay, ctx.signal);
    if (ctx.signal.aborted) throw new Error(`stopping while ${error.code} holds the batch; it will be redelivered`, { cause: error });
  }
}

/**
 * For stages: the failure of one record, from what its processing threw. An error that concerns the
 * whole batch (`failureScope` says 'batch': a dependency is down) is rethrown instead: every other
 * record would fail alike, so the stage stops there and the runtime keeps the batch.
 */
export function recordFailure(record: LogRecord, err: unknown): RecordFailure {
  if (failureScope(err) === 'batch') throw err;
  return { record, error: toTributaryError(err) };
}
