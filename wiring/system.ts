import { pino, type Logger } from 'pino';
import type { EmbeddingCache } from '../ports/embedder.ts';
import type { Config } from './config.ts';
import type { ApiContext, ApiSettings, DependencyStatus } from '../api/context.ts';
import { PipelineConsumers } from '../schemas/topics.ts';
import { LogEvents, Metrics } from '../observability/metrics.ts';
import type { ChangeFeedRelay } from '../connectors/relay/change-feed-relay.ts';
import { LagMonitor } from '../consumers/lag-monitor/lag-monitor.ts';
import { openBackbone } from './backbone.ts';
import { buildConsumer, defaultConsumers, parseConsumerList, type ConsumerName, type RunnableConsumer } from './consumers.ts';
import { checkDependency } from './dependencies.ts';
import { describeModels, openLanguageModels } from './models.ts';
import { createValueCodec } from './schema-registry.ts';
import { createDatasetRegistry } from './finetune.ts';
import { openTraceStore } from './traces.ts';
import { loadPrompts } from './prompts.ts';
import { hostname } from 'node:os';
import { FreshnessProbe } from '../consumers/freshness-probe/freshness-probe.ts';
import { openIndexing } from './vector-index.ts';
import { createPipelineThreads, THREADED_CONSUMERS, type PipelineThreads } from './pipeline-threads.ts';

/**
 * The composition root's building block: the only place that picks adapters (one factory per
 * port: backbone.ts for the event log and document store, vector-index.ts for the index and its
 * embedding cache, models.ts for the embedder, LLM and inference gateway, schema-registry.ts for
 * the value codec). `createSystem` builds every part; `start` starts the consumers, the relay and
 * the inference health checks; `close` stops and closes everything it built. The API is built on
 * the system through `ApiContext` (ports), never on this module.
 */
export interface System extends ApiContext {
  readonly config: Config;
  readonly cache: EmbeddingCache;
  readonly consumers: RunnableConsumer[];
  /** Kafka mode: the relay draining the store's change outbox to Kafka (null in embedded mode). */
  readonly relay: ChangeFeedRelay | null;
  /** The local LLM loaded in this process (served by the gateway), or null. */
  readonly localLlm: { readonly stats: { tokensGenerated: number; running: number; waiting: number } } | null;
  /** Burrow-style lag evaluation, started with the consumers; null when consumers are off. */
  readonly lagMonitor: LagMonitor | null;
  /** Starts every consumer, the relay and the inference health checks (idempotent). */
  start(): Promise<void>;
  /** Drains consumers (in-flight batches finish and commit), then closes everything it opened. */
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

export function apiSettings(config: Config): ApiSettings {
  return {
    host: config.host, port: config.port, bodyLimitBytes: config.bodyLimitBytes, apiKeys: config.apiKeys,
    inferenceAffinityHeader: config.inferenceAffinityHeader, inferenceLogPrompts: config.inferenceLogPrompts,
    answerCache: { ttlMs: config.answerCacheTtlMs, maxEntries: config.answerCacheEntries },
    guardrails: { injection: config.guardInjection, pii: config.guardPii, injectionLlm: config.guardInjectionLlm === 'on' },
    ragTraces: config.ragTraces === 'on',
    ingestMaxBacklog: config.ingestMaxBacklog,
  };
}

export async function createSystem(config: Config, opts: CreateSystemOptions = {}): Promise<System> {
  const logger = opts.logger ?? pino({ level: config.logLevel, base: { service: 'tributary' } });
  const metrics = new Metrics({ defaultMetrics: config.metricsEnabled });
  const closers: Array<() => Promise<void> | void> = [];
  const closeAll = async () => { for (const c of closers.splice(0).reverse()) await c(); };
  try {
    // the event log and the document store (embedded: one SQLite database; kafka: Kafka + the store's outbox relay)
    // the prompt templates first: a broken override fails start-up before anything connects
    const prompts = loadPrompts(config.promptsDir);
    const backbone = await openBackbone(config, logger, { metrics, ...(opts.relay !== undefined ? { relay: opts.relay } : {}) });
    closers.push(() => backbone.close());
    const { log, store } = backbone;

    // with the clean and embed stages in threads of their own, this thread's embedder serves queries only
    const stagesInThreads = opts.consumers !== false && config.pipelineThreads === 'on'
      && (config.mode === 'embedded' || (Array.isArray(opts.consumers) ? opts.consumers : parseConsumerList(config.consumers, config)).some((n) => THREADED_CONSUMERS.includes(n)));
    const { embedder, index, cache } = await openIndexing(config, closers, stagesInThreads ? 'queries' : 'both');
    // the local LLM (loaded here), the inference gateway and the RAG LLM
    const languageModels = await openLanguageModels(config, closers);
    const { gateway, llm } = languageModels;
    const models = describeModels(config, embedder, languageModels);
    logger.info({ event: LogEvents.systemModels, embedder: models.embedder, llm: models.llm, answers: models.answers }, models.answers === 'llm'
      ? `answers by ${models.llm.id} (${models.llm.source}); embeddings by ${models.embedder.id}`
      : `answers are extractive (no LLM); embeddings by ${models.embedder.id}`);

    // Schema Registry wire format when SCHEMA_REGISTRY_URL is set, else plain JSON — shared by every stage here
    const codec = createValueCodec(config);
    closers.push(() => codec.close());
    const consumers: RunnableConsumer[] = [];
    let names: ConsumerName[] = [];
    let threads: PipelineThreads | null = null;
    if (opts.consumers !== false) {
      // embedded mode: clean and embed (and the finetune trigger when datasets are configured), in this
      // process; kafka mode: the ones asked for (TRIBUTARY_CONSUMERS)
      names = config.mode === 'embedded' ? defaultConsumers(config).filter((n) => n !== 'archive')
        : Array.isArray(opts.consumers) ? opts.consumers : parseConsumerList(config.consumers, config);
      // the heavy stages in threads of their own (off this event loop), the others here
      const threaded = config.pipelineThreads === 'on' ? names.filter((n) => THREADED_CONSUMERS.includes(n)) : [];
      if (threaded.length > 0) {
        threads = createPipelineThreads(threaded, { config, logger, metrics });
        const t = threads;
        closers.push(() => t.close());
      }
      for (const name of names) {
        const inThread = threads?.consumers.find((c) => c.name === name);
        consumers.push(inThread ?? buildConsumer(name, { config, log, logger, metrics, codec, store, embedder, cache, index, llm, prompts, closers }));
      }
    }
    const lagMonitor = opts.consumers !== false && opts.lagMonitor !== false
      ? new LagMonitor({
        log, codec, metrics, logger, ...(opts.lagMonitor ?? {}),
        expected: config.mode === 'embedded' ? names.map((n) => PipelineConsumers[n])
          : defaultConsumers(config).map((n) => PipelineConsumers[n]),
      })
      : null;

    // the freshness probe runs in every serving process (not in tools that only read)
    const probe = opts.consumers !== false && config.freshnessProbeMs > 0
      ? new FreshnessProbe({ store, index, metrics, logger: logger.child({ component: 'freshness-probe' }), intervalMs: config.freshnessProbeMs, sloMs: config.freshnessSloMs, instance: config.port === 0 ? `${hostname()}:pid-${process.pid}` : `${hostname()}:${config.port}` })
      : null;
    const traces = openTraceStore(config);
    closers.push(() => traces.close());
    const datasetRegistry = createDatasetRegistry(config);
    closers.push(() => datasetRegistry.close());
    let maintenance: NodeJS.Timeout | null = null;
    let closed = false;
    return {
      config, settings: apiSettings(config), logger, metrics, log, store, index, embedder, cache, llm, gateway, models, localLlm: languageModels.local, consumers,
      relay: backbone.relay, codec, lagMonitor,
      finetune: { datasets: config.finetuneDatasets, registry: datasetRegistry },
      traces,
      prompts,
      checkDependencies: () => Promise.all([
        checkDependency('index', index.kind, () => index.ping()),
        checkDependency('log', log.kind, async () => { await log.listTopics(); }),
        checkDependency('store', store.kind, () => store.ping()),
      ]) as Promise<DependencyStatus[]>,
      async start() {
        backbone.start();
        gateway?.start();
        for (const c of consumers) c.start();
        await threads?.start();
        lagMonitor?.start();
        probe?.start();
        // housekeeping writes (log retention, cache pruning) run in the pipeline threads when there are some, off this event loop
        if (!maintenance && !threads) {
          maintenance = setInterval(() => {
            void (async () => { backbone.maintain(); await cache.prune(); })()
              .catch((e: unknown) => logger.warn({ event: 'maintenance.failed', err: (e as Error).message }));
          }, 10 * 60_000);
          maintenance.unref();
        }
      },
      async close() {
        if (closed) return;
        closed = true;
        if (maintenance) clearInterval(maintenance);
        await Promise.all([...consumers.map((c) => c.stop()), lagMonitor?.stop(), probe?.stop()]);
        await closeAll();
      },
    };
  } catch (e) {
    await closeAll();
    throw e;
  }
}
