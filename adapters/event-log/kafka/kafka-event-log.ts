import { Kafka, type Admin, type Message, type Producer } from 'kafkajs';
import type { Logger } from 'pino';
import { TributaryError } from '../../../ports/errors.ts';
import type {
  AppendResult, BatchHandler, EventLog, EventLogCapabilities, GroupOffset, LogRecord, PartitionOffsets,
  ProducerRecord, SubscribeOptions, Subscription,
} from '../../../ports/event-log.ts';
import type { TopicSpec } from '../../../schemas/topics.ts';
import { partitionForKey } from '../murmur2.ts';
import { isProducerFenced, toLogError } from './kafka-errors.ts';
import { KafkaLogEvents } from './kafka-log-events.ts';
import { kafkaLogCreator, kafkaLogLevel } from './kafka-logger.ts';
import { commitMetadata, committedAtFromMetadata, KafkaSubscription, toLogRecord } from './kafka-subscription.ts';
import { planTopic, type ExistingTopic, type TopicChange } from './kafka-topics.ts';
import { createRawCluster, READ_COMMITTED, type RawCluster, type RawMessage, type RawPartitionResponse } from './kafkajs-internals.ts';
import { withTraceContext } from './trace-context.ts';

/**
 * The event log on Apache Kafka (kafkajs). Same contract as the embedded log:
 *  - append: idempotent producer, acks=all, partition = murmur2(key) % partitions (Kafka's default
 *    partitioner, computed here so both logs place a key identically), resolves once the broker
 *    acknowledged; records over `maxRecordBytes` are refused before anything is sent; every record
 *    carries a W3C `traceparent`. Appends go out one request at a time, in call order (kafkajs's
 *    idempotent producer breaks with concurrent sends: tulios/kafkajs#598).
 *  - subscribe: see kafka-subscription.ts (eachBatch, heartbeats, commit after the handler).
 *  - read / commit: through kafkajs's cluster client (kafkajs-internals.ts).
 * No network I/O happens in the constructor; clients connect on first use (or `connect()`).
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

/** Largest payload of one produce request (a single larger record is sent alone). */
const MAX_SEND_BYTES = 1024 * 1024;
/** How long a cached partition count is trusted before metadata is asked again. */
const PARTITION_CACHE_MS = 30_000;

export class KafkaEventLog implements EventLog {
  readonly kind = 'kafka';
  readonly capabilities: EventLogCapabilities;
  private readonly o: KafkaEventLogOptions;
  private readonly kafka: Kafka;
  private readonly log: Logger;
  private admin: Admin | null = null;
  private adminConnecting: Promise<Admin> | null = null;
  private producer: Producer | null = null;
  private producerConnecting: Promise<Producer> | null = null;
  private raw: RawCluster | null = null;
  private rawConnecting: Promise<void> | null = null;
  private sendQueue: Promise<unknown> = Promise.resolve();
  private rawQueue: Promise<unknown> = Promise.resolve();
  private readonly partitionCache = new Map<string, { count: number; at: number }>();
  private readonly roundRobin = new Map<string, number>();
  private readonly subscriptions = new Set<KafkaSubscription>();
  /** Set when close() starts: no new client is created after it (one connecting then would leak its sockets). */
  private closing = false;
  private closed = false;

  constructor(options: KafkaEventLogOptions) {
    this.o = options;
    this.capabilities = { maxRecordBytes: options.maxRecordBytes, durable: true };
    this.log = options.logger.child({ component: 'kafka' });
    this.kafka = new Kafka({
      clientId: options.clientId,
      brokers: options.brokers,
      connectionTimeout: options.connectionTimeoutMs ?? 3_000,
      requestTimeout: options.requestTimeoutMs ?? 30_000,
      retry: { initialRetryTime: 200, maxRetryTime: 5_000, retries: 6 },
      logLevel: kafkaLogLevel(options.logger.level),
      logCreator: kafkaLogCreator(options.logger),
    });
  }

  /** Connects the admin client: fails fast (LOG_UNAVAILABLE) when no broker answers. */
  async connect(): Promise<void> {
    await this.adminClient();
  }

  // ---- clients -------------------------------------------------------------------------------

  private assertOpen(): void {
    if (this.closed || this.closing) throw new TributaryError('LOG_UNAVAILABLE', 'event log is closed');
  }

  private async adminClient(): Promise<Admin> {
    this.assertOpen();
    if (this.admin) return this.admin;
    this.adminConnecting ??= (async () => {
      const admin = this.kafka.admin({ retry: { initialRetryTime: 200, maxRetryTime: 5_000, retries: 6 } });
      try {
        await admin.connect();
      } catch (e) {
        this.adminConnecting = null;
        throw toLogError(e, `connect to ${this.o.brokers.join(',')}`);
      }
      this.admin = admin;
      return admin;
    })();
    return this.adminConnecting;
  }

  private async producerClient(): Promise<Producer> {
    this.assertOpen();
    if (this.producer) return this.producer;
    this.producerConnecting ??= (async () => {
      const producer = this.kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        allowAutoTopicCreation: false,
        // explicit partitions are set on every message; this only silences kafkajs's partitioner notice
        createPartitioner: () => ({ partitionMetadata, message }) => message.partition ?? partitionMetadata[0]?.partitionId ?? 0,
        // bounded, so a broker that stays away surfaces as LOG_UNAVAILABLE to the caller, who backs off
        retry: { initialRetryTime: 200, maxRetryTime: 3_000, retries: 10 },
      });
      try {
        await producer.connect();
      } catch (e) {
        this.producerConnecting = null;
        throw toLogError(e, 'connect the producer');
      }
      this.producer = producer;
      return producer;
    })();
    return this.producerConnecting;
  }

  /** Drops the producer after its idempotence state went out of sync (e.g. the broker lost it): the next append starts a new one. */
  private async resetProducer(reason: string): Promise<void> {
    const p = this.producer;
    this.producer = null;
    this.producerConnecting = null;
    this.log.warn({ event: KafkaLogEvents.producerReset, reason }, 'starting a new Kafka producer');
    await p?.disconnect().catch(() => undefined);
  }

  private async rawCluster(): Promise<RawCluster> {
    this.assertOpen();
    const raw = this.raw ??= createRawCluster(this.kafka);
    if (!raw.isConnected()) {
      this.rawConnecting ??= raw.connect().finally(() => { this.rawConnecting = null; });
      try { await this.rawConnecting; } catch (e) { throw toLogError(e, 'connect'); }
    }
    return raw;
  }

  // ---- topics --------------------------------------------------------------------------------

  async ensureTopics(specs: TopicSpec[]): Promise<void> {
    await this.applyTopics(specs);
  }

  /**
   * Creates missing topics, grows partitions, aligns owned configs; returns what changed per topic.
   * With `dryRun`, only reports what would change.
   */
  async applyTopics(specs: TopicSpec[], opts: { dryRun?: boolean } = {}): Promise<TopicChange[]> {
    const dryRun = opts.dryRun === true;
    const admin = await this.adminClient();
    try {
      const existingNames = new Set(await admin.listTopics());
      const existing = new Map<string, ExistingTopic>();
      const present = specs.filter((s) => existingNames.has(s.name)).map((s) => s.name);
      if (present.length > 0) {
        const meta = await admin.fetchTopicMetadata({ topics: present });
        const configs = await admin.describeConfigs({ includeSynonyms: false, resources: present.map((name) => ({ type: 2, name })) });
        for (const t of meta.topics) existing.set(t.name, { partitions: t.partitions.length, configs: {} });
        for (const r of configs.resources) {
          const e = existing.get(r.resourceName);
          if (!e) continue;
          for (const c of r.configEntries) e.configs[c.configName] = c.configValue;
          // configs set on the topic by anyone (kept when Tributary's own are updated)
          (e as ExistingTopic & { dynamic?: Record<string, string> }).dynamic = Object.fromEntries(
            r.configEntries.filter((c) => !c.isDefault && c.configSource === 1 && !c.isSensitive).map((c) => [c.configName, c.configValue]),
          );
        }
      }
      const out: TopicChange[] = [];
      const toCreate: TopicSpec[] = [];
      for (const spec of specs) {
        const cur = existing.get(spec.name);
        const plan = planTopic(spec, cur, this.o.maxRecordBytes);
        if (plan.create) { toCreate.push(spec); out.push({ topic: spec.name, action: 'created', partitions: spec.partitions, changes: plan.changes }); continue; }
        if (dryRun) {
          out.push({ topic: spec.name, action: plan.changes.length > 0 ? 'updated' : 'unchanged', partitions: Math.max(spec.partitions, cur!.partitions), changes: plan.changes });
          continue;
        }
        if (plan.growTo !== null) {
          await admin.createPartitions({ topicPartitions: [{ topic: spec.name, count: plan.growTo }] });
        }
        if (plan.configs) {
          const dynamic = (cur as ExistingTopic & { dynamic?: Record<string, string> }).dynamic ?? {};
          const merged = { ...dynamic, ...plan.configs };
          await admin.alterConfigs({ validateOnly: false, resources: [{ type: 2, name: spec.name, configEntries: Object.entries(merged).map(([name, value]) => ({ name, value })) }] });
        }
        out.push({ topic: spec.name, action: plan.changes.length > 0 ? 'updated' : 'unchanged', partitions: Math.max(spec.partitions, cur!.partitions), changes: plan.changes });
      }
      if (dryRun) return out;
      if (toCreate.length > 0) {
        await admin.createTopics({
          waitForLeaders: true,
          topics: toCreate.map((s) => {
            const plan = planTopic(s, undefined, this.o.maxRecordBytes);
            return {
              topic: s.name,
              numPartitions: s.partitions,
              replicationFactor: this.o.replicationFactor,
              configEntries: Object.entries(plan.configs!).map(([name, value]) => ({ name, value })),
            };
          }),
        });
      }
      for (const c of out) this.partitionCache.set(c.topic, { count: c.partitions, at: Date.now() });
      if (out.some((c) => c.action !== 'unchanged')) {
        this.log.info({ event: KafkaLogEvents.topicsApplied, changes: out.filter((c) => c.action !== 'unchanged') }, 'topics applied');
      }
      return out;
    } catch (e) {
      // another process created the topic between our listing and our create: apply again
      if ((e as { type?: string }).type === 'TOPIC_ALREADY_EXISTS' || /already exists/i.test((e as Error).message ?? '')) return this.applyTopics(specs, opts);
      throw toLogError(e, 'apply topics');
    }
  }

  async listTopics(): Promise<string[]> {
    const admin = await this.adminClient();
    try {
      return (await admin.listTopics()).filter((t) => !t.startsWith('__')).sort();
    } catch (e) {
      throw toLogError(e, 'list topics');
    }
  }

  async partitionCount(topic: string): Promise<number> {
    const cached = this.partitionCache.get(topic);
    if (cached && Date.now() - cached.at < PARTITION_CACHE_MS) return cached.count;
    const admin = await this.adminClient();
    let count: number;
    try {
      const names = await admin.listTopics();
      if (!names.includes(topic)) throw new TributaryError('NOT_FOUND', `topic "${topic}" does not exist; create it with ensureTopics (tributary topics apply)`);
      const meta = await admin.fetchTopicMetadata({ topics: [topic] });
      count = meta.topics.find((t) => t.name === topic)?.partitions.length ?? 0;
    } catch (e) {
      throw toLogError(e, `read metadata of ${topic}`);
    }
    this.partitionCache.set(topic, { count, at: Date.now() });
    return count;
  }

  // ---- append --------------------------------------------------------------------------------

  async append(topic: string, records: ProducerRecord[]): Promise<AppendResult[]> {
    this.assertOpen();
    for (const r of records) {
      const size = r.value?.byteLength ?? 0;
      if (size > this.capabilities.maxRecordBytes) {
        throw new TributaryError('OVERSIZE_RECORD', `record of ${size} bytes exceeds the ${this.capabilities.maxRecordBytes}-byte limit on topic ${topic} (TRIBUTARY_MAX_RECORD_BYTES)`);
      }
    }
    if (records.length === 0) return [];
    const run = () => this.send(topic, records);
    const p = this.sendQueue.then(run, run);
    this.sendQueue = p.catch(() => undefined);
    return p;
  }

  private async send(topic: string, records: ProducerRecord[]): Promise<AppendResult[]> {
    const partitions = await this.partitionCount(topic);
    const now = Date.now();
    const placed = records.map((r) => {
      let partition: number;
      if (r.key === null) {
        const n = this.roundRobin.get(topic) ?? 0;
        this.roundRobin.set(topic, n + 1);
        partition = n % partitions;
      } else {
        partition = partitionForKey(r.key, partitions);
      }
      const message: Message = {
        key: r.key,
        value: r.value === null ? null : Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength),
        partition,
        headers: withTraceContext(r.headers),
        timestamp: String(r.timestamp ?? now),
      };
      return { partition, message, size: (r.value?.byteLength ?? 0) + (r.key?.length ?? 0) + 64 };
    });
    const results: AppendResult[] = [];
    let start = 0;
    while (start < placed.length) {
      // one request of at most MAX_SEND_BYTES (a bigger single record goes alone), keeping order
      let end = start;
      let bytes = 0;
      while (end < placed.length && (end === start || bytes + placed[end]!.size <= MAX_SEND_BYTES)) bytes += placed[end++]!.size;
      const chunk = placed.slice(start, end);
      const meta = await this.sendChunk(topic, chunk.map((c) => c.message));
      const base = new Map(meta.map((m) => [m.partition, Number(m.baseOffset)]));
      const seen = new Map<number, number>();
      for (const c of chunk) {
        const k = seen.get(c.partition) ?? 0;
        seen.set(c.partition, k + 1);
        results.push({ topic, partition: c.partition, offset: (base.get(c.partition) ?? 0) + k });
      }
      start = end;
    }
    return results;
  }

  private async sendChunk(topic: string, messages: Message[]): Promise<Array<{ partition: number; baseOffset?: string }>> {
    const producer = await this.producerClient();
    try {
      return await producer.send({ topic, acks: -1, timeout: this.o.requestTimeoutMs ?? 30_000, messages });
    } catch (e) {
      if (isProducerFenced(e)) await this.resetProducer((e as Error).message);
      const te = toLogError(e, `append to ${topic}`);
      if (te.code === 'NOT_FOUND') this.partitionCache.delete(topic);
      throw te;
    }
  }

  // ---- read ----------------------------------------------------------------------------------

  async read(topic: string, partition: number, offset: number, maxRecords: number): Promise<LogRecord[]> {
    const out: LogRecord[] = [];
    let next = offset;
    for (let round = 0; out.length < maxRecords && round < 10_000; round++) {
      const { messages, highWatermark, outOfRange } = await this.fetchFrom(topic, partition, next, 1024 * 1024);
      if (outOfRange) {
        // below the log start (retention, compaction): go on from the first record still present
        const start = (await this.offsets(topic)).find((p) => p.partition === partition)?.start ?? next;
        if (start > next) { next = start; continue; }
        break;
      }
      // a fetch returns whole record batches: skip records before `next` (and control records)
      const fresh = messages.filter((m) => !m.isControlRecord && Number(m.offset) >= next);
      for (const m of fresh) {
        out.push(toLogRecord(topic, partition, m));
        next = Number(m.offset) + 1;
        if (out.length >= maxRecords) break;
      }
      if (fresh.length === 0) {
        const maxSeen = messages.reduce((mx, m) => Math.max(mx, Number(m.offset)), -1);
        if (maxSeen >= next) { next = maxSeen + 1; continue; } // only control records there
        break;
      }
      if (next >= highWatermark) break;
    }
    return out;
  }

  private async fetchFrom(topic: string, partition: number, offset: number, maxBytes: number): Promise<{ messages: RawMessage[]; highWatermark: number; outOfRange: boolean }> {
    try {
      const [p] = await this.fetchPartitions(topic, [{ partition, offset }], maxBytes);
      return { messages: p?.messages ?? [], highWatermark: Number(p?.highWatermark ?? offset), outOfRange: false };
    } catch (e) {
      if ((e as { type?: string }).type === 'OFFSET_OUT_OF_RANGE' || (e as { name?: string }).name === 'KafkaJSOffsetOutOfRange') {
        return { messages: [], highWatermark: offset, outOfRange: true };
      }
      throw toLogError(e, `read ${topic}/${partition} from offset ${offset}`);
    }
  }

  /**
   * One fetch per partition leader for several partitions of a topic (maxWaitTime 0: what is there).
   * Raw requests go one at a time: kafkajs's connection pool opens a connection per concurrent first
   * request to a broker and keeps only one of them (the others would leak their sockets).
   */
  private fetchPartitions(topic: string, wanted: Array<{ partition: number; offset: number }>, maxBytes: number): Promise<RawPartitionResponse[]> {
    const run = async (): Promise<RawPartitionResponse[]> => {
      const cluster = await this.rawCluster();
      await cluster.addTargetTopic(topic);
      const ids = wanted.map((w) => w.partition);
      let leaders = cluster.findLeaderForPartitions(topic, ids);
      if (Object.values(leaders).flat().length < ids.length) {
        await cluster.refreshMetadata();
        leaders = cluster.findLeaderForPartitions(topic, ids);
      }
      if (Object.values(leaders).flat().length < ids.length) throw new TributaryError('NOT_FOUND', `partition(s) ${ids.join(', ')} of topic "${topic}" not found`);
      const out: RawPartitionResponse[] = [];
      for (const [nodeId, partitions] of Object.entries(leaders)) {
        const broker = await cluster.findBroker({ nodeId });
        const { responses } = await broker.fetch({
          isolationLevel: READ_COMMITTED, maxWaitTime: 0, minBytes: 1, maxBytes: maxBytes * partitions.length,
          topics: [{ topic, partitions: partitions.map((partition) => ({ partition, fetchOffset: String(wanted.find((w) => w.partition === partition)!.offset), maxBytes })) }],
        });
        out.push(...(responses.find((r) => r.topicName === topic)?.partitions ?? []));
      }
      return out;
    };
    const p = this.rawQueue.then(run, run);
    this.rawQueue = p.catch(() => undefined);
    return p;
  }

  // ---- offsets -------------------------------------------------------------------------------

  async offsets(topic: string): Promise<PartitionOffsets[]> {
    const admin = await this.adminClient();
    let rows: Array<{ partition: number; high: string; low: string }>;
    try {
      if (!(await admin.listTopics()).includes(topic)) throw new TributaryError('NOT_FOUND', `topic "${topic}" does not exist; create it with ensureTopics (tributary topics apply)`);
      rows = await admin.fetchTopicOffsets(topic);
    } catch (e) {
      throw toLogError(e, `read offsets of ${topic}`);
    }
    const out: PartitionOffsets[] = rows
      .map((r) => ({ topic, partition: r.partition, end: Number(r.high), start: Number(r.low), lastTimestamp: null as number | null }))
      .sort((a, b) => a.partition - b.partition);
    // the last record's timestamp, for lag in seconds: one small fetch (per leader) of every non-empty partition's last record
    const nonEmpty = out.filter((p) => p.end > p.start);
    if (nonEmpty.length > 0) {
      try {
        const fetched = await this.fetchPartitions(topic, nonEmpty.map((p) => ({ partition: p.partition, offset: p.end - 1 })), 64 * 1024);
        for (const f of fetched) {
          const last = f.messages.filter((m) => !m.isControlRecord).at(-1);
          const p = out.find((o) => o.partition === f.partition);
          if (last && p) p.lastTimestamp = Number(last.timestamp);
        }
      } catch { /* a partition compacted or truncated meanwhile: leave the timestamps null */ }
    }
    return out;
  }

  async groupOffsets(group?: string): Promise<GroupOffset[]> {
    const admin = await this.adminClient();
    try {
      const groups = group !== undefined ? [group] : (await admin.listGroups()).groups.map((g) => g.groupId).sort();
      const topics = (await admin.listTopics()).filter((t) => !t.startsWith('__'));
      const out: GroupOffset[] = [];
      for (const g of groups) {
        const res = await admin.fetchOffsets({ groupId: g, topics });
        for (const t of res) {
          for (const p of t.partitions) {
            const committed = Number(p.offset);
            if (!(committed >= 0)) continue;
            out.push({ group: g, topic: t.topic, partition: p.partition, committed, committedAt: committedAtFromMetadata(p.metadata) });
          }
        }
      }
      return out.sort((a, b) => a.group.localeCompare(b.group) || a.topic.localeCompare(b.topic) || a.partition - b.partition);
    } catch (e) {
      throw toLogError(e, 'read group offsets');
    }
  }

  async commit(group: string, topic: string, partition: number, offset: number): Promise<void> {
    const run = async () => {
      const cluster = await this.rawCluster();
      const coordinator = await cluster.findGroupCoordinator({ groupId: group });
      await coordinator.offsetCommit({
        groupId: group, groupGenerationId: -1, memberId: '', retentionTime: -1,
        topics: [{ topic, partitions: [{ partition, offset: String(offset), metadata: commitMetadata() }] }],
      });
    };
    try {
      const p = this.rawQueue.then(run, run);
      this.rawQueue = p.catch(() => undefined);
      await p;
    } catch (e) {
      const te = toLogError(e, `commit ${group} ${topic}/${partition}=${offset}`);
      if (['UNKNOWN_MEMBER_ID', 'ILLEGAL_GENERATION', 'REBALANCE_IN_PROGRESS'].includes((e as { type?: string }).type ?? '')) {
        throw new TributaryError('INVALID_INPUT', `cannot set the offsets of group "${group}" while it has running members; stop its consumers first`, { cause: e });
      }
      throw te;
    }
  }

  // ---- subscribe -----------------------------------------------------------------------------

  subscribe(options: SubscribeOptions, handler: BatchHandler): Subscription {
    this.assertOpen();
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
    if (this.closed || this.closing) return;
    // subscriptions first: their in-flight batches may still append (outputs, DLQ) and commit
    await Promise.all([...this.subscriptions].map((s) => s.stop()));
    this.closing = true;
    await this.sendQueue;
    // clients still connecting finish first, so that they are disconnected below
    await Promise.allSettled([this.adminConnecting, this.producerConnecting, this.rawConnecting]);
    this.closed = true;
    await Promise.all([
      this.producer?.disconnect().catch(() => undefined),
      this.admin?.disconnect().catch(() => undefined),
      this.raw?.disconnect().catch(() => undefined),
    ]);
  }
}

/** Splits KAFKA_BROKERS ("host:port,host:port"). */
export function parseBrokers(list: string): string[] {
  return list.split(',').map((s) => s.trim()).filter(Boolean);
}
