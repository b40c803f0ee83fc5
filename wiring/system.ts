import { join, resolve } from 'node:path';
import { pino, type Logger } from 'pino';
import type { DocumentStore } from '../ports/document-store.ts';
import type { Embedder, EmbeddingCache } from '../ports/embedder.ts';
import type { EventLog } from '../ports/event-log.ts';
import type { Llm } from '../ports/llm.ts';
import type { ValueCodec } from '../ports/value-codec.ts';
import type { VectorIndex } from '../ports/vector-index.ts';
import { CDC_TOPIC, Groups, Topics, WAREHOUSE_COLLECTION, WAREHOUSE_DB, topicSpecs } from '../schemas/topics.ts';
import { Metrics } from '../observability/metrics.ts';
import { openDatabase } from '../adapters/sqlite/open-database.ts';
import { EmbeddedEventLog } from '../adapters/embedded-log/embedded-event-log.ts';
import { EmbeddedDocumentStore } from '../adapters/embedded-store/embedded-document-store.ts';
import { SqliteEmbeddingCache } from '../adapters/embedded-cache/sqlite-embedding-cache.ts';
import { createEmbeddedVectorIndex } from '../adapters/embedded-index/index.ts';
import { StageConsumer } from '../consumers/runtime/stage-consumer.ts';
import { CleanStage } from '../consumers/clean/clean-stage.ts';
import { EmbedStage } from '../consumers/embed/embed-stage.ts';
import { LagMonitor } from '../consumers/lag-monitor/lag-monitor.ts';
import type { Config } from './config.ts';
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
  /** Build parts but don't create consumers (tools that only read: CLI, tests). */
  consumers?: boolean;
  /** Lag monitor cadence (default every 5 s, window of 10), or false for none. */
  lagMonitor?: false | { intervalMs?: number; windowSize?: number };
}

export async function createSystem(config: Config, opts: CreateSystemOptions = {}): Promise<System> {
  if (config.mode !== 'embedded') {
    throw new Error(`TRIBUTARY_MODE=${config.mode} is not available in this build yet; use TRIBUTARY_MODE=embedded`);
  }
  const logger = opts.logger ?? pino({ level: config.logLevel, base: { service: 'tributary' } });
  const metrics = new Metrics({ defaultMetrics: config.metricsEnabled });
  const dataDir = resolve(config.dataDir);

  // store + log share one database so a document write and its change event commit together
  const mainDb = openDatabase({ path: join(dataDir, 'tributary.db'), synchronous: config.sqliteSync });
  const log = new EmbeddedEventLog({
    db: mainDb,
    maxRecordBytes: config.maxRecordBytes,
    onHandlerError: (err, info) => logger.error({ event: 'consumer.handler_error', ...info, err: (err as Error).message }),
  });
  log.ensureTopicsSync(topicSpecs(config.partitions));
  const store = new EmbeddedDocumentStore({ db: mainDb, log, cdcTopic: CDC_TOPIC, database: WAREHOUSE_DB, collection: WAREHOUSE_COLLECTION });

  const embedder = await createEmbedder(config);
  const cacheDb = openDatabase({ path: join(dataDir, 'embedding-cache.db'), synchronous: 'normal' });
  const cache = new SqliteEmbeddingCache(cacheDb);
  const index = createEmbeddedVectorIndex({ path: join(dataDir, 'index.db'), dimension: embedder.capabilities.dimension, synchronous: config.sqliteSync });
  await index.init();
  const llm = createLlm(config);

  const consumers: StageConsumer[] = [];
  if (opts.consumers !== false) {
    const common = {
      log,
      batch: { maxRecords: config.batchMaxRecords, maxBytes: config.batchMaxBytes, maxWaitMs: config.batchMaxWaitMs },
      retry: { baseMs: config.retryBaseMs, maxMs: config.retryMaxMs, maxAttempts: config.maxAttempts },
      logger,
      metrics,
    };
    consumers.push(new StageConsumer({ ...common, stage: new CleanStage({ log }), group: Groups.clean, topics: [CDC_TOPIC] }));
    consumers.push(new StageConsumer({
      ...common,
      stage: new EmbedStage({ embedder, cache, index, metrics, chunking: { maxTokens: config.chunkTokens, overlapTokens: config.chunkOverlapTokens } }),
      group: Groups.embed,
      topics: [Topics.cleaned],
    }));
  }
  const codec = createValueCodec(config);
  const lagMonitor = opts.consumers !== false && opts.lagMonitor !== false
    ? new LagMonitor({
      log, codec, metrics, logger, ...(opts.lagMonitor ?? {}),
      expected: [{ group: Groups.clean, topics: [CDC_TOPIC] }, { group: Groups.embed, topics: [Topics.cleaned] }],
    })
    : null;

  let maintenance: NodeJS.Timeout | null = null;
  let closed = false;
  return {
    config, logger, metrics, log, store, index, embedder, cache, llm, consumers, codec, lagMonitor,
    async start() {
      for (const c of consumers) c.start();
      lagMonitor?.start();
      if (!maintenance) {
        maintenance = setInterval(() => {
          try { log.maintain(); cache.prune(); } catch (e) { logger.warn({ event: 'maintenance.failed', err: (e as Error).message }); }
        }, 10 * 60_000);
        maintenance.unref();
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      if (maintenance) clearInterval(maintenance);
      await Promise.all([...consumers.map((c) => c.stop()), lagMonitor?.stop()]);
      await log.close();
      await index.close();
      await embedder.close();
      await cache.close();
      await codec.close();
      mainDb.close();
      cacheDb.close();
    },
  };
}
