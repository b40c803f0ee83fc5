/**
 * The event log: topics split into partitions by key hash, append-only records with offsets,
 * consumer groups with committed offsets. Kafka and the embedded SQLite log implement it.
 */
import type { TopicSpec } from '../schemas/topics.ts';

export type Headers = Record<string, string>;

export interface ProducerRecord {
  /** Partitioning key (document id). Records with the same key land on the same partition, in order. */
  key: string | null;
  /** null = tombstone */
  value: Uint8Array | null;
  headers?: Headers;
  /** Producer timestamp in ms; defaults to now. */
  timestamp?: number;
}

export interface LogRecord {
  topic: string;
  partition: number;
  offset: number;
  key: string | null;
  value: Uint8Array | null;
  headers: Headers;
  timestamp: number;
}

export interface AppendResult {
  topic: string;
  partition: number;
  offset: number;
}

export interface RecordBatch {
  topic: string;
  partition: number;
  records: LogRecord[];
  /** Offset the partition's log ends at (next offset to be written) when the batch was fetched. */
  highWatermark: number;
}

export interface BatchContext {
  /** Aborted when the consumer is stopping or the partition was revoked. */
  signal: AbortSignal;
  /** Keeps group membership alive during long batches (no-op where there is no session). */
  heartbeat(): Promise<void>;
  /** Pause fetching this partition until `resume` (backpressure). */
  pause(): void;
  resume(): void;
}

export type BatchHandler = (batch: RecordBatch, ctx: BatchContext) => Promise<void>;

export interface SubscribeOptions {
  group: string;
  topics: string[];
  /** Where a group without a committed offset starts. */
  fromBeginning?: boolean;
  maxBatchRecords?: number;
  maxBatchBytes?: number;
  /** How long to wait for a batch to fill before delivering a partial one. */
  maxWaitMs?: number;
}

export interface Subscription {
  /** Resolves when the subscription has stopped (after `stop` or a fatal error). */
  readonly done: Promise<void>;
  readonly running: boolean;
  /** Stops fetching, waits for the in-flight batch to finish and be committed, then leaves the group. */
  stop(): Promise<void>;
}

export interface PartitionOffsets {
  topic: string;
  partition: number;
  /** Next offset to be written (the high watermark). */
  end: number;
  /** First offset still present (after retention/compaction). */
  start: number;
  /** Timestamp of the last record, if any. */
  lastTimestamp: number | null;
}

export interface GroupOffset {
  group: string;
  topic: string;
  partition: number;
  /** Next offset the group will read. */
  committed: number;
  /** When the offset was last committed (ms); null if the log doesn't know. */
  committedAt: number | null;
}

export interface EventLogCapabilities {
  /** Largest record value accepted, in bytes. */
  maxRecordBytes: number;
  /** Records survive a process crash once `append` resolved. */
  durable: boolean;
}

export interface EventLog {
  readonly kind: string;
  readonly capabilities: EventLogCapabilities;
  /** Creates the topic or brings its settings up to date (idempotent; partitions only grow). */
  ensureTopics(specs: TopicSpec[]): Promise<void>;
  listTopics(): Promise<string[]>;
  partitionCount(topic: string): Promise<number>;
  /** Appends records; resolves once they are durable. Partition = hash(key) like Kafka's default partitioner. */
  append(topic: string, records: ProducerRecord[]): Promise<AppendResult[]>;
  /** Reads up to `maxRecords` records from `offset` of one partition. */
  read(topic: string, partition: number, offset: number, maxRecords: number): Promise<LogRecord[]>;
  offsets(topic: string): Promise<PartitionOffsets[]>;
  /** Committed offsets of every group (or one group). */
  groupOffsets(group?: string): Promise<GroupOffset[]>;
  /** Sets a group's committed offset directly (used by replay tools and tests). */
  commit(group: string, topic: string, partition: number, offset: number): Promise<void>;
  /** Joins `group`, delivers batches per partition in order, and commits after the handler resolves. */
  subscribe(options: SubscribeOptions, handler: BatchHandler): Subscription;
  close(): Promise<void>;
}
