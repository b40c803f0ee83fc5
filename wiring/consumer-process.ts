import { join, resolve } from 'node:path';
import { pino, type Logger } from 'pino';
import { TributaryError } from '../ports/errors.ts';
import { topicSpecs } from '../schemas/topics.ts';
import type { EventLog } from '../ports/event-log.ts';
import { Metrics } from '../observability/metrics.ts';
import { openDatabase } from '../adapters/sqlite/open-database.ts';
import { SqliteEmbeddingCache } from '../adapters/embedding-cache/sqlite/sqlite-embedding-cache.ts';
import { createEmbeddedVectorIndex } from '../adapters/vector-index/embedded/index.ts';
import type { OutboxRelay } from '../connectors/relay/outbox-relay.ts';
import type { StageConsumer } from '../consumers/runtime/stage-consumer.ts';
import { createKafkaLog, openBackbone } from './backbone.ts';
import type { Config } from './config.ts';
import { buildStageConsumer, ConsumerSpecs, type ConsumerDeps, type ConsumerName } from './consumers.ts';
import { createEmbedder } from './models.ts';
import { createValueCodec } from './schema-registry.ts';

/**
 * One pipeline consumer as its own process (`tributary consume <name>`, Kafka mode): builds only
 * what that consumer needs — clean: the log; embed: the log, embedder, embedding cache and index;
 * archive: the log and the document store (whose outbox relay runs here too, sharing the lease
 * with any other process that opens the store).
 */
export interface ConsumerProcess {
  readonly name: ConsumerName;
  readonly consumer: StageConsumer;
  readonly log: EventLog;
  readonly relay: OutboxRelay | null;
  readonly logger: Logger;
  readonly metrics: Metrics;
  start(): void;
  /** Drains the consumer (in-flight batch finishes and commits), leaves the group, closes storage. */
  close(): Promise<void>;
}

export async function createConsumerProcess(config: Config, name: ConsumerName, opts: { logger?: Logger } = {}): Promise<ConsumerProcess> {
  if (config.mode !== 'kafka') {
    throw new TributaryError('INVALID_CONFIG', 'TRIBUTARY_MODE (mode): consumers run as separate processes only with TRIBUTARY_MODE=kafka (and KAFKA_BROKERS); in embedded mode `tributary dev` runs them in its own process');
  }
  const logger = opts.logger ?? pino({ level: config.logLevel, base: { service: 'tributary', consumer: name } });
  const metrics = new Metrics({ defaultMetrics: config.metricsEnabled });
  const needs = ConsumerSpecs[name].needs;
  const closers: Array<() => Promise<void> | void> = [];
  const closeAll = async () => { for (const c of closers.splice(0).reverse()) await c(); };
  try {
    const deps: Partial<ConsumerDeps> = { config, logger, metrics };
    let relay: OutboxRelay | null = null;
    let startRelay = () => {};
    if (needs.includes('store')) {
      const backbone = await openBackbone(config, logger, { relay: true });
      closers.push(() => backbone.close());
      deps.log = backbone.log;
      deps.store = backbone.store;
      relay = backbone.relay;
      startRelay = () => backbone.start();
    } else {
      const log = createKafkaLog(config, logger);
      closers.push(() => log.close());
      await log.connect();
      if (config.kafkaApplyTopics) await log.applyTopics(topicSpecs(config.partitions));
      deps.log = log;
    }
    if (needs.includes('index')) {
      const dataDir = resolve(config.dataDir);
      const embedder = await createEmbedder(config);
      closers.push(() => embedder.close());
      const cacheDb = openDatabase({ path: join(dataDir, 'embedding-cache.db'), synchronous: 'normal' });
      closers.push(() => cacheDb.close());
      const cache = new SqliteEmbeddingCache(cacheDb);
      closers.push(() => cache.close());
      const index = createEmbeddedVectorIndex({ path: join(dataDir, 'index.db'), dimension: embedder.capabilities.dimension, synchronous: config.sqliteSync });
      await index.init();
      closers.push(() => index.close());
      Object.assign(deps, { embedder, cache, index });
    }
    // the same codec choice as the API process, so both sides of a topic agree on the wire format
    const codec = createValueCodec(config);
    closers.push(() => codec.close());
    deps.codec = codec;
    const consumer = buildStageConsumer(name, deps as ConsumerDeps);
    let closed = false;
    return {
      name, consumer, relay, logger, metrics, log: deps.log!,
      start() { startRelay(); consumer.start(); },
      async close() {
        if (closed) return;
        closed = true;
        await consumer.stop();
        await closeAll();
      },
    };
  } catch (e) {
    await closeAll();
    throw e;
  }
}

/**
 * The lag monitor as its own process (`tributary consume lag-monitor`, Kafka mode): evaluates every
 * group's lag by Burrow's rules and publishes status records on tributary.ops.lag, which the API
 * serves on GET /v1/ops/lag.
 */
export async function createLagMonitorProcess(config: Config, opts: { logger?: Logger } = {}): Promise<{ relay: null; start(): void; close(): Promise<void> }> {
  if (config.mode !== 'kafka') {
    throw new TributaryError('INVALID_CONFIG', 'TRIBUTARY_MODE (mode): the lag monitor runs as a separate process only with TRIBUTARY_MODE=kafka; in embedded mode `tributary dev` runs it');
  }
  const logger = opts.logger ?? pino({ level: config.logLevel, base: { service: 'tributary', consumer: 'lag-monitor' } });
  const metrics = new Metrics({ defaultMetrics: config.metricsEnabled });
  const log = createKafkaLog(config, logger);
  await log.connect();
  const codec = createValueCodec(config);
  const { LagMonitor } = await import('../consumers/lag-monitor/lag-monitor.ts');
  const monitor = new LagMonitor({
    log, codec, metrics, logger,
    expected: Object.values(ConsumerSpecs).map((s) => ({ group: s.group, topics: s.topics })),
  });
  let closed = false;
  return {
    relay: null,
    start() { monitor.start(); },
    async close() {
      if (closed) return;
      closed = true;
      await monitor.stop();
      await codec.close();
      await log.close();
    },
  };
}
