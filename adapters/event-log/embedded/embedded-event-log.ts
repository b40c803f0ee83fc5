import { EventEmitter } from 'node:events';
import { BroadcastChannel } from 'node:worker_threads';
import type { DatabaseSync } from 'node:sqlite';
import { TributaryError } from '../../../ports/errors.ts';
import type {
  AppendResult, BatchHandler, EventLog, EventLogCapabilities, GroupOffset, Headers, LogRecord,
  PartitionOffsets, ProducerRecord, SubscribeOptions, Subscription,
} from '../../../ports/event-log.ts';
import type { TopicSpec } from '../../../schemas/topics.ts';
import { afterCommit, transaction, writeTransaction } from '../../sqlite/open-database.ts';
import { partitionForKey } from '../murmur2.ts';
import { GroupCoordinator, type GroupLogAccess } from './group-coordinator.ts';
import type { HandlerErrorListener } from './partition-loop.ts';
import { applyRetention } from './retention.ts';
import { prepareStatements, SCHEMA, type LogStatements } from './schema.ts';

/**
 * The embedded event log: topics, partitions, offsets and consumer groups in SQLite.
 * Appends are durable when `append` resolves (WAL, synchronous as configured).
 * Consumer groups are coordinated inside one thread (the pipeline's, in the process that owns the
 * data directory). An append wakes the partition loops waiting on its topic at once, in this thread
 * and in every other thread of the process that opened the same file (a BroadcastChannel named after
 * it: the API thread's writes wake the pipeline threads); other processes (tools, tests) are picked
 * up by polling.
 *
 * This file holds topics, appends, reads and offsets; the tables are in schema.ts, consumer groups
 * in group-coordinator.ts (assignment, rebalancing) and partition-loop.ts (delivery, commits,
 * back-off), retention and compaction in retention.ts.
 */

export interface EmbeddedEventLogOptions {
  db: DatabaseSync;
  maxRecordBytes: number;
  /** How often idle partition loops poll for appends from other processes. */
  pollIntervalMs?: number;
  /** Called when a handler throws; the batch is redelivered after a back-off. */
  onHandlerError?: HandlerErrorListener;
}

interface TopicInfo { partitions: number; compacted: boolean; retentionMs: number }

const EMPTY_HEADERS: Headers = Object.freeze({}) as Headers;

export class EmbeddedEventLog implements EventLog, GroupLogAccess {
  readonly kind = 'embedded';
  readonly capabilities: EventLogCapabilities;
  private readonly db: DatabaseSync;
  private readonly stmts: LogStatements;
  private readonly topicCache = new Map<string, TopicInfo>();
  private readonly events = new EventEmitter();
  private readonly groups = new Map<string, GroupCoordinator>();
  private readonly pollIntervalMs: number;
  private readonly onHandlerError: HandlerErrorListener | undefined;
  private roundRobin = 0;
  private closed = false;
  /** Wakes the other threads' copies of this log (same file) after an append; null for an in-memory database. */
  private readonly wake: BroadcastChannel | null;

  constructor(opts: EmbeddedEventLogOptions) {
    this.db = opts.db;
    this.db.exec(SCHEMA);
    this.capabilities = { maxRecordBytes: opts.maxRecordBytes, durable: true };
    this.pollIntervalMs = opts.pollIntervalMs ?? 100;
    this.onHandlerError = opts.onHandlerError;
    this.events.setMaxListeners(0);
    this.stmts = prepareStatements(this.db);
    const file = this.db.location();
    this.wake = file ? new BroadcastChannel(`tributary.event-log:${file}`) : null;
    if (this.wake) {
      this.wake.onmessage = (m) => {
        const topic = (m as { data?: unknown }).data;
        if (typeof topic === 'string') this.events.emit(topic);
      };
      this.wake.unref();
    }
  }

  /** Wakes this thread's waiters on `topic`, and every other thread's (the records are committed). */
  private appended(topic: string): void {
    this.events.emit(topic);
    if (!this.closed) this.wake?.postMessage(topic);
  }

  async ensureTopics(specs: TopicSpec[]): Promise<void> {
    this.ensureTopicsSync(specs);
  }

  ensureTopicsSync(specs: TopicSpec[]): void {
    transaction(this.db, () => {
      for (const s of specs) {
        const existing = this.stmts.topic.get(s.name) as { partitions: number } | undefined;
        const partitions = Math.max(existing?.partitions ?? 0, s.partitions);
        this.db.prepare(`INSERT INTO log_topics (name, partitions, compacted, retention_ms) VALUES (?, ?, ?, ?)
          ON CONFLICT (name) DO UPDATE SET partitions = excluded.partitions, compacted = excluded.compacted, retention_ms = excluded.retention_ms`)
          .run(s.name, partitions, s.compacted ? 1 : 0, s.retentionMs);
        for (let p = 0; p < partitions; p++) {
          this.db.prepare('INSERT OR IGNORE INTO log_partitions (topic, partition, next_offset) VALUES (?, ?, 0)').run(s.name, p);
        }
        this.topicCache.set(s.name, { partitions, compacted: s.compacted, retentionMs: s.retentionMs });
      }
    });
    for (const g of this.groups.values()) g.rebalance();
  }

  async listTopics(): Promise<string[]> {
    return (this.db.prepare('SELECT name FROM log_topics ORDER BY name').all() as Array<{ name: string }>).map((r) => r.name);
  }

  topicInfo(topic: string): TopicInfo {
    let info = this.topicCache.get(topic);
    if (!info) {
      const row = this.stmts.topic.get(topic) as { partitions: number; compacted: number; retention_ms: number } | undefined;
      if (!row) throw new TributaryError('NOT_FOUND', `topic "${topic}" does not exist; create it with ensureTopics (tributary topics apply)`);
      info = { partitions: row.partitions, compacted: row.compacted === 1, retentionMs: row.retention_ms };
      this.topicCache.set(topic, info);
    }
    return info;
  }

  async partitionCount(topic: string): Promise<number> {
    return this.topicInfo(topic).partitions;
  }

  async append(topic: string, records: ProducerRecord[]): Promise<AppendResult[]> {
    return writeTransaction(this.db, () => this.appendSync(topic, records));
  }

  /**
   * Appends inside the caller's transaction (the embedded store uses this so a document write and its
   * change event commit together). Listeners are woken after the outermost commit.
   */
  appendSync(topic: string, records: ProducerRecord[]): AppendResult[] {
    if (this.closed) throw new TributaryError('LOG_UNAVAILABLE', 'event log is closed');
    const info = this.topicInfo(topic);
    const now = Date.now();
    const next = new Map<number, number>();
    const results: AppendResult[] = [];
    const run = () => {
      for (const r of records) {
        const size = r.value?.byteLength ?? 0;
        if (size > this.capabilities.maxRecordBytes) {
          throw new TributaryError('OVERSIZE_RECORD', `record of ${size} bytes exceeds the ${this.capabilities.maxRecordBytes}-byte limit on topic ${topic} (TRIBUTARY_MAX_RECORD_BYTES)`);
        }
        const partition = r.key === null ? (this.roundRobin++ % info.partitions) : partitionForKey(r.key, info.partitions);
        let offset = next.get(partition);
        if (offset === undefined) {
          const row = this.stmts.partition.get(topic, partition) as { next_offset: number } | undefined;
          offset = row?.next_offset ?? 0;
        }
        const ts = r.timestamp ?? now;
        this.stmts.insert.run(topic, partition, offset, r.key, r.value ?? null, r.headers && Object.keys(r.headers).length ? JSON.stringify(r.headers) : null, ts);
        next.set(partition, offset + 1);
        results.push({ topic, partition, offset });
      }
      for (const [partition, offset] of next) this.stmts.bumpPartition.run(offset, now, topic, partition);
    };
    if (this.db.isTransaction) {
      run();
      // consumers are woken once the caller's transaction commits (never for one rolled back)
      afterCommit(this.db, () => this.appended(topic));
    } else {
      transaction(this.db, run);
      this.appended(topic);
    }
    return results;
  }

  async read(topic: string, partition: number, offset: number, maxRecords: number): Promise<LogRecord[]> {
    return this.readSync(topic, partition, offset, maxRecords, Number.POSITIVE_INFINITY);
  }

  readSync(topic: string, partition: number, offset: number, maxRecords: number, maxBytes: number): LogRecord[] {
    const rows = this.stmts.read.all(topic, partition, offset, maxRecords) as Array<{ offset: number; key: string | null; value: Uint8Array | null; headers: string | null; ts: number }>;
    const out: LogRecord[] = [];
    let bytes = 0;
    for (const row of rows) {
      const size = row.value?.byteLength ?? 0;
      if (out.length > 0 && bytes + size > maxBytes) break;
      bytes += size;
      out.push({
        topic, partition, offset: row.offset, key: row.key, value: row.value,
        headers: row.headers ? (JSON.parse(row.headers) as Headers) : EMPTY_HEADERS, timestamp: row.ts,
      });
    }
    return out;
  }

  async offsets(topic: string): Promise<PartitionOffsets[]> {
    this.topicInfo(topic);
    return (this.stmts.offsets.all(topic) as Array<{ partition: number; next_offset: number; start_offset: number; last_ts: number | null }>).map((r) => ({
      topic, partition: r.partition, end: r.next_offset, start: r.start_offset, lastTimestamp: r.last_ts,
    }));
  }

  async groupOffsets(group?: string): Promise<GroupOffset[]> {
    const rows = (group === undefined ? this.stmts.groupOffsetsAll.all() : this.stmts.groupOffsetsOne.all(group)) as Array<{ grp: string; topic: string; partition: number; offset: number; committed_at: number }>;
    return rows.map((r) => ({ group: r.grp, topic: r.topic, partition: r.partition, committed: r.offset, committedAt: r.committed_at }));
  }

  async commit(group: string, topic: string, partition: number, offset: number): Promise<void> {
    this.commitSync(group, topic, partition, offset);
  }

  commitSync(group: string, topic: string, partition: number, offset: number): void {
    this.stmts.commit.run(group, topic, partition, offset, Date.now());
  }

  endOffsetSync(topic: string, partition: number): number {
    const row = this.stmts.partition.get(topic, partition) as { next_offset: number } | undefined;
    return row?.next_offset ?? 0;
  }

  committedSync(group: string, topic: string, partition: number): number | null {
    const row = this.stmts.committed.get(group, topic, partition) as { offset: number } | undefined;
    return row ? row.offset : null;
  }

  /** Waits until `topic` gets an append in this process, or `ms` elapse, or `signal` aborts. */
  waitForAppend(topic: string, ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const done = () => {
        clearTimeout(timer);
        this.events.off(topic, done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.events.on(topic, done);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  subscribe(options: SubscribeOptions, handler: BatchHandler): Subscription {
    if (this.closed) throw new TributaryError('LOG_UNAVAILABLE', 'event log is closed');
    let g = this.groups.get(options.group);
    if (!g) {
      g = new GroupCoordinator(this, options.group, { pollIntervalMs: this.pollIntervalMs, onHandlerError: this.onHandlerError });
      this.groups.set(options.group, g);
    }
    return g.join(options, handler);
  }

  /** Deletes records past retention and, on compacted topics, records superseded by a newer one with the same key. */
  maintain(now = Date.now()): { deleted: number } {
    return applyRetention(this.db, now);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await Promise.all([...this.groups.values()].map((g) => g.stopAll()));
    this.closed = true;
    this.wake?.close();
  }
}
