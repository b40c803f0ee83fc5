import { join, resolve } from 'node:path';
import { pino, type Logger } from 'pino';
import type { DocumentStore } from '../ports/document-store.ts';
import type { Embedder, EmbeddingCache } from '../ports/embedder.ts';
import type { EventLog } from '../ports/event-log.ts';
import type { Llm } from '../ports/llm.ts';
import type { ValueCodec } from '../ports/value-codec.ts';
import type { VectorIndex } from '../ports/vector-index.ts';
import { CDC_TOPIC, Groups, Topics } from '../schemas/topics.ts';
import { Metrics } from '../observability/metrics.ts';
import { openDatabase } from '../adapters/sqlite/open-database.ts';
import { SqliteEmbeddingCache } from '../adapters/embedding-cache/sqlite/sqlite-embedding-cache.ts';
import { createEmbeddedVectorIndex } from '../adapters/vector-index/embedded/index.ts';
import type { StageConsumer } from '../consumers/runtime/stage-consumer.ts';
import type { OutboxRelay } from '../connectors/relay/outbox-relay.ts';
import { LagMonitor } from '../consumers/lag-monitor/lag-monitor.ts';
import { openBackbone } from './backbone.ts';
import type { Config } from './config.ts';
import { buildStageConsumer, parseConsumerList, type ConsumerName } from './consumers.ts';
import { createEmbedder, createLlm } from './models.ts';
import { createValueCodec } from './schema-registry.ts';

/**
 * The composition root's building block: the only place that picks adapters.
 * `createSystem` opens storage and builds every part; `start` starts the consumers.
 */
export interface System {
  readonly config: Config;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly log: EventLog;
  readonly store: DocumentStore;
  readonly index: VectorIndex;
  readonly embedder: Embedder;
  readonly cache: EmbeddingCache;
  readonly llm: Llm | null;
  readonly consumers: StageConsumer[];
  /** Kafka mode: the relay draining the store's change outbox to Kafka (null in embedded mode). */
  readonly relay?: OutboxRelay | null;
  /** Values of the topics that have a schema: Schema Registry wire format when SCHEMA_REGISTRY_URL is set, else JSON. */
  readonly codec: ValueCodec;
  /** Burrow-style lag evaluation, started with the consumers; null when consumers are off. */
  readonly lagMonitor: LagMonitor | null;
  /** Starts every consumer (idempotent). */
  start(): Promise<void>;
  /** Drains consumers (in-flight batches finish and commit), then closes storage. */
  close(): Promise<void>;
}

export interface CreateSystemOptions {
  logger?: Logger;
  /**
   * Build parts but don't create consumers (tools that only read: CLI, tests). In Kafka mode a list
   * picks the consumers this process runs (default: TRIBUTARY_CONSUMERS).
   */
  consumers?: boolean | ConsumerName[];
  /** Kafka mode: run the store's outbox relay in this process (default true). */
  relay?: boolean;
  /** Lag monitor cadence (default every 5 s, window of 10), or false for none. */
  lagMonitor?: false | { intervalMs?: number; windowSize?: number };
}

export async function createSystem(config: Config, opts: CreateSystemOptions = {}): Promise<System> {
  const logger = opts.logger ?? pino({ level: config.logLevel, base: { service: 'tributary' } });
  const metrics = new Metrics({ defaultMetrics: config.metricsEnabled });
  const dataDir = resolve(config.dataDir);

  // the event log and the document store (embedded: one SQLite database; kafka: Kafka + the store's outbox relay)
  const backbone = await openBackbone(config, logger, { relay: opts.relay });
  const { log, store } = backbone;

  const embedder = await createEmbedder(config);
  const cacheDb = openDatabase({ path: join(dataDir, 'embedding-cache.db'), synchronous: 'normal' });
  const cache = new SqliteEmbeddingCache(cacheDb);
  const index = createEmbeddedVectorIndex({ path: join(dataDir, 'index.db'), dimension: embedder.capabilities.dimension, synchronous: config.sqliteSync });
  await index.init();
  const llm = createLlm(config);

  // Schema Registry wire format when SCHEMA_REGISTRY_URL is set, else plain JSON — shared by every stage here
  const codec = createValueCodec(config);
  const consumers: StageConsumer[] = [];
  if (opts.consumers !== false) {
    // embedded mode: clean and embed, in this process; kafka mode: the ones asked for (TRIBUTARY_CONSUMERS)
    const names: ConsumerName[] = config.mode === 'embedded' ? ['clean', 'embed']
      : Array.isArray(opts.consumers) ? opts.consumers : parseConsumerList(config.consumers);
    for (const name of names) consumers.push(buildStageConsumer(name, { config, log, logger, metrics, store, embedder, cache, index, codec }));
  }
  const lagMonitor = opts.consumers !== false && opts.lagMonitor !== false
    ? new LagMonitor({
      log, codec, metrics, logger, ...(opts.lagMonitor ?? {}),
      expected: [{ group: Groups.clean, topics: [CDC_TOPIC] }, { group: Groups.embed, topics: [Topics.cleaned] }],
    })
    : null;

  let maintenance: NodeJS.Timeout | null = null;
  let closed = false;
  return {
    config, logger, metrics, log, store, index, embedder, cache, llm, consumers, relay: backbone.relay, codec, lagMonitor,
    async start() {
      backbone.start();
      for (const c of consumers) c.start();
      lagMonitor?.start();
      if (!maintenance) {
        maintenance = setInterval(() => {
          try { backbone.maintain(); cache.prune(); } catch (e) { logger.warn({ event: 'maintenance.failed', err: (e as Error).message }); }
        }, 10 * 60_000);
        maintenance.unref();
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      if (maintenance) clearInterval(maintenance);
      await Promise.all([...consumers.map((c) => c.stop()), lagMonitor?.stop()]);
      await backbone.close();
      await index.close();
      await embedder.close();
      await cache.close();
      await codec.close();
      cacheDb.close();
    },
  };
}
