import type { Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import type { Logger } from 'pino';
import { backoffDelay } from '../../../common/backoff.ts';
import { sleep } from '../../../common/sleep.ts';
import type { BatchContext, BatchHandler, LogRecord, SubscribeOptions, Subscription } from '../../../ports/event-log.ts';
import { commitMetadata } from './kafka-commit-metadata.ts';
import { isMembershipError, kafkaErrorType, toLogError } from './kafka-errors.ts';
import { KafkaLogEvents } from './kafka-log-events.ts';
import { toLogRecord } from './kafka-records.ts';

/**
 * One `subscribe()` on Kafka: a kafkajs consumer in group `options.group`, supervised (re-created
 * with back-off after a crash kafkajs does not recover from, or when the broker is unreachable at
 * start), consuming with `eachBatch` — never `eachMessage`, whose heartbeats starve during slow
 * handlers (tulios/kafkajs#1083).
 *
 * Per partition batch from kafkajs:
 *  - the records are handed to the handler in slices of `maxBatchRecords` / `maxBatchBytes`;
 *  - while a slice is in the handler, a timer keeps heartbeating (every `heartbeatIntervalMs`),
 *    so group membership survives slow embedding batches;
 *  - after the handler resolved, the slice's offset is resolved and COMMITTED (synchronously,
 *    with the commit time in the offset metadata) before the next slice starts: offsets are only
 *    ever committed for work the sink acknowledged;
 *  - a handler that throws commits nothing: the partition is paused for a back-off and fetched
 *    again from the last committed slice (the same records are redelivered);
 *  - rebalance (kafkajs uses Kafka's eager protocol): a heartbeat answered with
 *    REBALANCE_IN_PROGRESS lets the running slice finish and commit (commits are accepted while
 *    the group prepares the rebalance), then the batch stops so the member re-joins promptly;
 *    a partition that is no longer ours after the re-join has its in-flight handler aborted and
 *    its result NOT committed — the new owner redoes it from the committed offset. A commit
 *    refused because the generation moved on likewise leaves the slice to be redone.
 *    Either way in-flight work is committed or redone, never lost; sinks are idempotent.
 *  - `ctx.pause()` pauses fetching the partition; the rest of the fetched batch is left
 *    unresolved and fetched again after `ctx.resume()`.
 */

export interface KafkaSubscriptionSettings {
  kafka: Kafka;
  logger: Logger;
  sessionTimeoutMs: number;
  heartbeatIntervalMs: number;
  rebalanceTimeoutMs: number;
  /** Partitions handled in parallel by one member. */
  partitionConcurrency: number;
  /** Long-poll time of a fetch when there is nothing to read (also bounds how long stop() waits for it). */
  fetchMaxWaitMs: number;
  onHandlerError?: (err: unknown, info: { group: string; topic: string; partition: number }) => void;
}

const tpKey = (topic: string, partition: number) => `${topic}\u0000${partition}`;

/** Back-off of a consumer restart, a commit retry and a failed handler (common/backoff.ts). */
const RESTART_BACKOFF = { baseMs: 500, maxMs: 15_000 };
const COMMIT_BACKOFF = { baseMs: 200, maxMs: 2_000 };
const HANDLER_BACKOFF = { baseMs: 100, maxMs: 30_000 };

export class KafkaSubscription implements Subscription {
  readonly done: Promise<void>;
  private resolveDone!: () => void;
  private readonly s: KafkaSubscriptionSettings;
  private readonly options: SubscribeOptions;
  private readonly handler: BatchHandler;
  private readonly log: Logger;
  private stopping = false;
  private stopSignal = new AbortController();
  private consumer: Consumer | null = null;
  /** Partitions assigned to this member in the current generation. */
  private assigned = new Set<string>();
  /** In-flight handler per partition (aborted on revocation and on stop). */
  private readonly inflight = new Map<string, AbortController>();
  /** Partitions the handler paused (ctx.pause) and partitions in a failure back-off. */
  private readonly userPaused = new Set<string>();
  private readonly backoffPaused = new Map<string, NodeJS.Timeout>();
  private readonly failures = new Map<string, number>();
  /** Set when a heartbeat learned that the group is rebalancing; cleared by the next join. */
  private rebalancing = false;

  constructor(settings: KafkaSubscriptionSettings, options: SubscribeOptions, handler: BatchHandler) {
    this.s = settings;
    this.options = options;
    this.handler = handler;
    this.log = settings.logger.child({ component: 'kafka-consumer', group: options.group });
    this.done = new Promise((r) => { this.resolveDone = r; });
    void this.supervise();
  }

  get running(): boolean { return !this.stopping; }

  async stop(): Promise<void> {
    if (!this.stopping) {
      this.stopping = true;
      this.stopSignal.abort();
      for (const c of this.inflight.values()) c.abort();
      for (const t of this.backoffPaused.values()) clearTimeout(t);
      this.backoffPaused.clear();
    }
    return this.done;
  }

  /** Creates, runs and (after a crash or a failed start) re-creates the kafkajs consumer until stopped. */
  private async supervise(): Promise<void> {
    let attempt = 0;
    while (!this.stopping) {
      const consumer = this.createConsumer();
      this.consumer = consumer;
      let crashed!: (e: unknown) => void;
      const crash = new Promise<unknown>((r) => { crashed = r; });
      const offCrash = consumer.on(consumer.events.CRASH, (ev) => {
        const { error, restart } = ev.payload;
        this.log.warn({ event: KafkaLogEvents.consumerCrash, err: error.message, type: kafkaErrorType(error), restart }, 'Kafka consumer crashed');
        if (!restart) crashed(error);
      });
      const offJoin = consumer.on(consumer.events.GROUP_JOIN, (ev) => this.onJoin(ev.payload.memberAssignment));
      const offRebalance = consumer.on(consumer.events.REBALANCING, () => { this.rebalancing = true; });
      try {
        await consumer.connect();
        await consumer.subscribe({ topics: this.options.topics, fromBeginning: this.options.fromBeginning !== false });
        await consumer.run({
          autoCommit: false,
          eachBatchAutoResolve: false,
          partitionsConsumedConcurrently: Math.max(1, this.s.partitionConcurrency),
          eachBatch: (payload) => this.eachBatch(payload),
        });
        attempt = 0;
        const signal = this.stopSignal.signal;
        const stopped = signal.aborted ? Promise.resolve() : new Promise<void>((r) => signal.addEventListener('abort', () => r(), { once: true }));
        const outcome = await Promise.race([crash.then((e) => ({ crashed: e })), stopped.then(() => null)]);
        if (outcome) {
          attempt++;
          const delay = backoffDelay(attempt, RESTART_BACKOFF);
          this.log.warn({ event: KafkaLogEvents.consumerRestart, err: (outcome.crashed as Error)?.message, delayMs: Math.round(delay) }, 'restarting the Kafka consumer');
          await this.shutdown(consumer);
          await sleep(delay, this.stopSignal.signal);
          continue;
        }
      } catch (e) {
        if (!this.stopping) {
          attempt++;
          const delay = backoffDelay(attempt, RESTART_BACKOFF);
          const te = toLogError(e, `join group ${this.options.group}`);
          this.log.warn({ event: KafkaLogEvents.consumerRestart, code: te.code, err: te.message, delayMs: Math.round(delay) }, 'Kafka consumer could not start; retrying');
          await this.shutdown(consumer);
          await sleep(delay, this.stopSignal.signal);
          continue;
        }
      } finally {
        offCrash(); offJoin(); offRebalance();
      }
      await this.shutdown(consumer);
    }
    this.consumer = null;
    this.resolveDone();
  }

  private createConsumer(): Consumer {
    const maxBytesPerPartition = Math.max(64 * 1024, this.options.maxBatchBytes ?? 8 * 1024 * 1024);
    return this.s.kafka.consumer({
      groupId: this.options.group,
      sessionTimeout: this.s.sessionTimeoutMs,
      rebalanceTimeout: this.s.rebalanceTimeoutMs,
      heartbeatInterval: this.s.heartbeatIntervalMs,
      maxWaitTimeInMs: this.s.fetchMaxWaitMs,
      minBytes: 1,
      maxBytesPerPartition,
      maxBytes: Math.max(10 * 1024 * 1024, maxBytesPerPartition),
      allowAutoTopicCreation: false,
      retry: { initialRetryTime: 300, maxRetryTime: 10_000, retries: 8, restartOnFailure: async () => !this.stopping },
    });
  }

  /** Stops and disconnects the consumer (kafkajs waits for the in-flight batches, then leaves the group). */
  private async shutdown(consumer: Consumer): Promise<void> {
    try { await consumer.stop(); } catch { /* already stopped */ }
    try { await consumer.disconnect(); } catch { /* broker gone: the session expires on its own */ }
    this.assigned.clear();
  }

  private onJoin(assignment: Record<string, number[]>): void {
    const next = new Set<string>();
    for (const [topic, partitions] of Object.entries(assignment)) for (const p of partitions) next.add(tpKey(topic, p));
    for (const [key, controller] of this.inflight) {
      if (!next.has(key)) controller.abort(); // revoked: the new owner redoes the in-flight slice
    }
    this.assigned = next;
    this.rebalancing = false;
    // pauses asked for by the handler outlive a re-join (kafkajs forgets them with a new consumer)
    for (const k of this.userPaused) {
      if (!next.has(k)) continue;
      const [topic, p] = k.split('\u0000') as [string, string];
      this.setPaused(topic, Number(p));
    }
    this.log.info({ event: KafkaLogEvents.consumerAssigned, partitions: [...next].map((k) => k.replace('\u0000', '/')) }, 'partitions assigned');
  }

  private isPaused(key: string): boolean {
    return this.userPaused.has(key) || this.backoffPaused.has(key);
  }

  private setPaused(topic: string, partition: number): void {
    this.consumer?.pause([{ topic, partitions: [partition] }]);
  }

  private maybeResume(topic: string, partition: number): void {
    if (this.stopping || this.isPaused(tpKey(topic, partition))) return;
    this.consumer?.resume([{ topic, partitions: [partition] }]);
  }

  private async eachBatch(payload: EachBatchPayload): Promise<void> {
    const { batch, resolveOffset, heartbeat, isRunning, isStale, commitOffsetsIfNecessary } = payload;
    const { topic, partition } = batch;
    const key = tpKey(topic, partition);
    const highWatermark = Number(batch.highWatermark);
    const maxRecords = Math.max(1, this.options.maxBatchRecords ?? 500);
    const maxBytes = Math.max(1, this.options.maxBatchBytes ?? 8 * 1024 * 1024);
    const messages = batch.messages;
    let i = 0;

    const beat = async (): Promise<void> => {
      try {
        await heartbeat();
      } catch (e) {
        if (isMembershipError(e)) this.rebalancing = true;
        // other failures (broker briefly away): the next beat tries again; the session timeout decides
      }
    };

    while (i < messages.length) {
      if (this.stopping || !isRunning() || isStale() || this.isPaused(key) || this.rebalancing || !this.assigned.has(key)) return;
      // the next slice: up to maxRecords records and maxBytes bytes (at least one record)
      const slice: LogRecord[] = [];
      let bytes = 0;
      while (i + slice.length < messages.length && slice.length < maxRecords) {
        const m = messages[i + slice.length]!;
        const size = m.value?.byteLength ?? 0;
        if (slice.length > 0 && bytes + size > maxBytes) break;
        bytes += size;
        slice.push(toLogRecord(topic, partition, m));
      }

      const controller = new AbortController();
      this.inflight.set(key, controller);
      const ctx: BatchContext = {
        signal: controller.signal,
        heartbeat: beat,
        pause: () => { this.userPaused.add(key); this.setPaused(topic, partition); },
        resume: () => { this.userPaused.delete(key); this.maybeResume(topic, partition); },
      };
      const timer = setInterval(() => { void beat(); }, this.s.heartbeatIntervalMs);
      let ok = false;
      try {
        await this.handler({ topic, partition, records: slice, highWatermark }, ctx);
        ok = true;
      } catch (err) {
        if (!controller.signal.aborted && !this.stopping) this.onHandlerFailure(err, topic, partition);
      } finally {
        clearInterval(timer);
        if (this.inflight.get(key) === controller) this.inflight.delete(key);
      }
      // not ok: nothing resolved or committed; the slice is fetched again (after the back-off, or by the new owner)
      if (!ok) return;
      // revoked while the handler ran: the new owner redoes the slice from the committed offset
      if (controller.signal.aborted && !this.assigned.has(key)) return;
      const last = slice[slice.length - 1]!.offset;
      try {
        await this.commit(commitOffsetsIfNecessary, topic, partition, last + 1);
      } catch (e) {
        if (isMembershipError(e)) {
          this.log.info({ event: KafkaLogEvents.commitRefused, topic, partition, offset: last + 1, type: kafkaErrorType(e) }, 'commit refused by the group; the slice will be redone by the partition owner');
        }
        throw e; // kafkajs re-joins the group (membership) or retries the fetch from the last resolved offset
      }
      // the next fetch of this partition starts after the slice (unless it moved to another member meanwhile)
      if (!this.assigned.has(key)) return;
      resolveOffset(String(last));
      this.failures.delete(key);
      i += slice.length;
    }
  }

  /** Commits `offset` (next to read) for one partition; retries briefly on transient failures. */
  private async commit(commitOffsets: EachBatchPayload['commitOffsetsIfNecessary'], topic: string, partition: number, offset: number): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await commitOffsets({ topics: [{ topic, partitions: [{ partition, offset: String(offset), metadata: commitMetadata() } as { partition: number; offset: string }] }] });
        return;
      } catch (e) {
        if (isMembershipError(e) || this.stopping || attempt >= 5) throw e;
        await sleep(backoffDelay(attempt, COMMIT_BACKOFF));
      }
    }
  }

  private onHandlerFailure(err: unknown, topic: string, partition: number): void {
    const key = tpKey(topic, partition);
    const n = (this.failures.get(key) ?? 0) + 1;
    this.failures.set(key, n);
    this.s.onHandlerError?.(err, { group: this.options.group, topic, partition });
    // pause the partition for a back-off; the other partitions of this member keep flowing
    const delay = backoffDelay(n, HANDLER_BACKOFF);
    const prev = this.backoffPaused.get(key);
    if (prev) clearTimeout(prev);
    this.setPaused(topic, partition);
    this.backoffPaused.set(key, setTimeout(() => {
      this.backoffPaused.delete(key);
      this.maybeResume(topic, partition);
    }, delay));
  }
}
