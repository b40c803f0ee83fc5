import { Kafka } from 'kafkajs';
import type { Logger } from 'pino';
import type {
  AppendResult, BatchHandler, EventLog, EventLogCapabilities, GroupOffset, LogRecord, PartitionOffsets,
  ProducerRecord, SubscribeOptions, Subscription,
} from '../../../ports/event-log.ts';
import type { TopicSpec } from '../../../schemas/topics.ts';
import { KafkaAppender } from './kafka-append.ts';
import { KafkaClients } from './kafka-clients.ts';
import { kafkaLogCreator, kafkaLogLevel } from './kafka-logger.ts';
import { KafkaOffsets } from './kafka-offsets.ts';
import { KafkaReader } from './kafka-reader.ts';
import { KafkaSubscription } from './kafka-subscription.ts';
import { KafkaTopicAdmin } from './kafka-topic-admin.ts';
import type { TopicChange } from './kafka-topics.ts';

/**
 * The event log on Apache Kafka (kafkajs). Same contract as the embedded log:
 *  - append: see kafka-append.ts (idempotent producer, acks=all, murmur2 partitioning as Kafka's
 *    default partitioner, size check before sending, W3C `traceparent` on every record, one
 *    request at a time in call order).
 *  - subscribe: see kafka-subscription.ts (eachBatch, heartbeats, commit after the handler).
 *  - topics: kafka-topic-admin.ts; read: kafka-reader.ts; offsets and commit: kafka-offsets.ts
 *    (both through kafkajs's cluster client, kafkajs-internals.ts).
 * No network I/O happens in the constructor; clients connect on first use (or `connect()`),
 * see kafka-clients.ts.
 */

export interface KafkaEventLogOptions {
  brokers: string[];
  clientId: string;
  logger: Logger;
  maxRecordBytes: number;
  /** Replication factor for topics it creates; -1 = the broker's default.replication.factor. */
  replicationFactor: number;
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
  heartbeatIntervalMs?: number;
  partitionConcurrency: number;
  fetchMaxWaitMs?: number;
  connectionTimeoutMs?: number;
  requestTimeoutMs?: number;
  onHandlerError?: (err: unknown, info: { group: string; topic: string; partition: number }) => void;
}

export class KafkaEventLog implements EventLog {
  readonly kind = 'kafka';
  readonly capabilities: EventLogCapabilities;
  private readonly o: KafkaEventLogOptions;
  private readonly kafka: Kafka;
  private readonly clients: KafkaClients;
  private readonly topics: KafkaTopicAdmin;
  private readonly appender: KafkaAppender;
  private readonly reader: KafkaReader;
  private readonly offsetsOf: KafkaOffsets;
  private readonly subscriptions = new Set<KafkaSubscription>();

  constructor(options: KafkaEventLogOptions) {
    this.o = options;
    this.capabilities = { maxRecordBytes: options.maxRecordBytes, durable: true };
    const log = options.logger.child({ component: 'kafka' });
    this.kafka = new Kafka({
      clientId: options.clientId,
      brokers: options.brokers,
      connectionTimeout: options.connectionTimeoutMs ?? 3_000,
      requestTimeout: options.requestTimeoutMs ?? 30_000,
      retry: { initialRetryTime: 200, maxRetryTime: 5_000, retries: 6 },
      logLevel: kafkaLogLevel(options.logger.level),
      logCreator: kafkaLogCreator(options.logger),
    });
    this.clients = new KafkaClients(this.kafka, options.brokers, log);
    this.topics = new KafkaTopicAdmin({ clients: this.clients, log, maxRecordBytes: options.maxRecordBytes, replicationFactor: options.replicationFactor });
    this.appender = new KafkaAppender({ clients: this.clients, topics: this.topics, maxRecordBytes: options.maxRecordBytes, requestTimeoutMs: options.requestTimeoutMs ?? 30_000 });
    this.reader = new KafkaReader(this.clients, (topic) => this.offsets(topic));
    this.offsetsOf = new KafkaOffsets(this.clients, this.reader);
  }

  /** Connects the admin client: fails fast (LOG_UNAVAILABLE) when no broker answers. */
  async connect(): Promise<void> {
    await this.clients.adminClient();
  }

  async ensureTopics(specs: TopicSpec[]): Promise<void> {
    await this.topics.applyTopics(specs);
  }

  /**
   * Creates missing topics, grows partitions, aligns owned configs; returns what changed per topic.
   * With `dryRun`, only reports what would change.
   */
  applyTopics(specs: TopicSpec[], opts: { dryRun?: boolean } = {}): Promise<TopicChange[]> {
    return this.topics.applyTopics(specs, opts);
  }

  listTopics(): Promise<string[]> {
    return this.topics.listTopics();
  }

  partitionCount(topic: string): Promise<number> {
    return this.topics.partitionCount(topic);
  }

  append(topic: string, records: ProducerRecord[]): Promise<AppendResult[]> {
    return this.appender.append(topic, records);
  }

  read(topic: string, partition: number, offset: number, maxRecords: number): Promise<LogRecord[]> {
    return this.reader.read(topic, partition, offset, maxRecords);
  }

  offsets(topic: string): Promise<PartitionOffsets[]> {
    return this.offsetsOf.offsets(topic);
  }

  groupOffsets(group?: string): Promise<GroupOffset[]> {
    return this.offsetsOf.groupOffsets(group);
  }

  commit(group: string, topic: string, partition: number, offset: number): Promise<void> {
    return this.offsetsOf.commit(group, topic, partition, offset);
  }

  subscribe(options: SubscribeOptions, handler: BatchHandler): Subscription {
    this.clients.assertOpen();
    const sessionTimeoutMs = this.o.sessionTimeoutMs;
    const sub = new KafkaSubscription({
      kafka: this.kafka,
      logger: this.o.logger,
      sessionTimeoutMs,
      heartbeatIntervalMs: this.o.heartbeatIntervalMs ?? Math.max(100, Math.floor(sessionTimeoutMs / 10)),
      rebalanceTimeoutMs: this.o.rebalanceTimeoutMs,
      partitionConcurrency: this.o.partitionConcurrency,
      fetchMaxWaitMs: this.o.fetchMaxWaitMs ?? 500,
      onHandlerError: this.o.onHandlerError,
    }, options, handler);
    this.subscriptions.add(sub);
    void sub.done.then(() => this.subscriptions.delete(sub));
    return sub;
  }

  async close(): Promise<void> {
    if (this.clients.isClosing) return;
    // subscriptions first: their in-flight batches may still append (outputs, DLQ) and commit
    await Promise.all([...this.subscriptions].map((s) => s.stop()));
    this.clients.beginClose();
    await this.appender.drained();
    // clients still connecting finish first, so that they are disconnected
    await this.clients.close();
  }
}

/** Splits KAFKA_BROKERS ("host:port,host:port"). */
export function parseBrokers(list: string): string[] {
  return list.split(',').map((s) => s.trim()).filter(Boolean);
}
