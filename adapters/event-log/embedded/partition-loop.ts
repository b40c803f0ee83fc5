import { backoffDelay } from '../../../common/backoff.ts';
import { sleep } from '../../../common/sleep.ts';
import type { BatchHandler, LogRecord, PartitionOffsets, SubscribeOptions } from '../../../ports/event-log.ts';

/** Told when a handler throws; the batch is redelivered after a back-off. */
export type HandlerErrorListener = (err: unknown, info: { group: string; topic: string; partition: number }) => void;

/** What a partition loop needs from the embedded log (EmbeddedEventLog implements it). */
export interface PartitionLogAccess {
  readSync(topic: string, partition: number, offset: number, maxRecords: number, maxBytes: number): LogRecord[];
  offsets(topic: string): Promise<PartitionOffsets[]>;
  committedSync(group: string, topic: string, partition: number): number | null;
  commitSync(group: string, topic: string, partition: number, offset: number): void;
  endOffsetSync(topic: string, partition: number): number;
  waitForAppend(topic: string, ms: number, signal: AbortSignal): Promise<void>;
}

export interface PartitionLoopSettings {
  pollIntervalMs: number;
  onHandlerError: HandlerErrorListener | undefined;
}

/** After a handler failure: the first redelivery after 100–200 ms, doubling up to 30 s (common/backoff.ts). */
const HANDLER_BACKOFF = { baseMs: 200, maxMs: 30_000 };

/**
 * Delivers one partition to one group member: reads from the committed position, hands batches to
 * the handler, commits after it resolved; a handler that throws is given the same batch again after
 * a back-off. `active` holds the running loop of each (group, topic, partition), so that a partition
 * moving between members starts only after its previous owner stopped.
 */
export class PartitionLoop {
  readonly active: Map<string, PartitionLoop>;
  private readonly controller = new AbortController();
  private paused = false;
  private resumeWaiter: (() => void) | null = null;
  private resolveStopped!: () => void;
  readonly stopped = new Promise<void>((r) => { this.resolveStopped = r; });
  private readonly log: PartitionLogAccess;
  private readonly group: string;
  private readonly topic: string;
  private readonly partition: number;
  private readonly options: SubscribeOptions;
  private readonly handler: BatchHandler;
  private readonly pollIntervalMs: number;
  private readonly onHandlerError: HandlerErrorListener | undefined;

  constructor(active: Map<string, PartitionLoop>, log: PartitionLogAccess, group: string, topic: string, partition: number, options: SubscribeOptions, handler: BatchHandler,
    settings: PartitionLoopSettings) {
    this.active = active;
    this.log = log; this.group = group; this.topic = topic; this.partition = partition;
    this.options = options; this.handler = handler; this.pollIntervalMs = settings.pollIntervalMs; this.onHandlerError = settings.onHandlerError;
  }

  static key(group: string, topic: string, partition: number): string { return `${group}\u0000${topic}\u0000${partition}`; }

  private get key(): string { return PartitionLoop.key(this.group, this.topic, this.partition); }

  async start(): Promise<void> {
    if (this.controller.signal.aborted) { this.resolveStopped(); return; }
    this.active.set(this.key, this);
    try {
      await this.run();
    } finally {
      if (this.active.get(this.key) === this) this.active.delete(this.key);
      this.resolveStopped();
    }
  }

  stop(): Promise<void> {
    this.controller.abort();
    this.resumeWaiter?.();
    return this.stopped;
  }

  private async run(): Promise<void> {
    const signal = this.controller.signal;
    const maxRecords = this.options.maxBatchRecords ?? 500;
    const maxBytes = this.options.maxBatchBytes ?? 8 * 1024 * 1024;
    const maxWaitMs = this.options.maxWaitMs ?? 0;
    let position = this.log.committedSync(this.group, this.topic, this.partition);
    if (position === null) {
      const offs = await this.log.offsets(this.topic);
      const po = offs.find((o) => o.partition === this.partition);
      position = this.options.fromBeginning === false ? (po?.end ?? 0) : (po?.start ?? 0);
    }
    let failures = 0;
    const ctx = {
      signal,
      heartbeat: async () => {},
      pause: () => { this.paused = true; },
      resume: () => { this.paused = false; this.resumeWaiter?.(); },
    };
    while (!signal.aborted) {
      if (this.paused) {
        await new Promise<void>((r) => { this.resumeWaiter = r; });
        this.resumeWaiter = null;
        continue;
      }
      let records = this.log.readSync(this.topic, this.partition, position, maxRecords, maxBytes);
      if (records.length === 0) {
        await this.log.waitForAppend(this.topic, this.pollIntervalMs, signal);
        continue;
      }
      if (records.length < maxRecords && maxWaitMs > 0) {
        await this.log.waitForAppend(this.topic, maxWaitMs, signal);
        if (signal.aborted) break;
        records = this.log.readSync(this.topic, this.partition, position, maxRecords, maxBytes);
      }
      const hw = this.highWatermark();
      try {
        await this.handler({ topic: this.topic, partition: this.partition, records, highWatermark: hw }, ctx);
        const next = records[records.length - 1]!.offset + 1;
        this.log.commitSync(this.group, this.topic, this.partition, next);
        position = next;
        failures = 0;
      } catch (err) {
        failures++;
        this.onHandlerError?.(err, { group: this.group, topic: this.topic, partition: this.partition });
        await sleep(backoffDelay(failures, HANDLER_BACKOFF), signal);
      }
    }
  }

  private highWatermark(): number {
    return this.log.endOffsetSync(this.topic, this.partition);
  }
}
