import { pino, type Logger } from 'pino';
import { TributaryError } from '../ports/errors.ts';
import type { EventLog } from '../ports/event-log.ts';
import { PipelineConsumers, WAREHOUSE_COLLECTION, WAREHOUSE_DB, topicSpecs } from '../schemas/topics.ts';
import { Metrics } from '../observability/metrics.ts';
import { createKafkaLog, openMongoStore } from './backbone.ts';
import type { Config } from './config.ts';
import { buildConsumer, ConsumerSpecs, defaultConsumers, type ConsumerDeps, type ConsumerName, type RunnableConsumer } from './consumers.ts';
import { openLanguageModels } from './models.ts';
import { createValueCodec } from './schema-registry.ts';
import { openIndexing } from './vector-index.ts';
import { startMetricsServer } from '../observability/metrics-server.ts';
import { judgeRuns } from './config-rules.ts';
import { loadPrompts } from './prompts.ts';

/**
 * One pipeline consumer as its own process (`tributary consume <name>`, Kafka mode): builds only
 * what that consumer needs — clean: the log; embed: the log, embedder, index and embedding cache
 * (with QDRANT_URL, all remote: the process needs no file and can run on any host). The archive
 * consumer needs the document store, which until the MongoDB store lands is the SQLite store owned
 * by the API process: it runs there (TRIBUTARY_CONSUMERS=archive), never as a second process
 * opening the same file.
 */
export interface ConsumerProcess {
  readonly name: ConsumerName;
  readonly consumer: RunnableConsumer;
  readonly log: EventLog;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** What the banner says this process writes to (e.g. the vector index's kind). */
  readonly sink: string | null;
  /** Where this process serves GET /metrics and GET /healthz (TRIBUTARY_METRICS_PORT). */
  readonly metricsUrl: string;
  start(): void;
  /** Drains the consumer (in-flight batch finishes and commits), leaves the group, closes what it opened. */
  close(): Promise<void>;
}

export async function createConsumerProcess(config: Config, name: ConsumerName, opts: { logger?: Logger } = {}): Promise<ConsumerProcess> {
  if (config.mode !== 'kafka') {
    throw new TributaryError('INVALID_CONFIG', 'TRIBUTARY_MODE (mode): consumers run as separate processes only with TRIBUTARY_MODE=kafka (and KAFKA_BROKERS); in embedded mode `tributary dev` runs them in its own process');
  }
  if (name === 'finetune-trigger' && config.finetuneDatasets.length === 0) {
    throw new TributaryError('INVALID_CONFIG', 'TRIBUTARY_FINETUNE_DATASETS (finetuneDatasets): the finetune-trigger consumer has no dataset to keep; configure at least one (see the README, Continuous training)');
  }
  const needs = ConsumerSpecs[name].needs;
  if (needs.includes('store') && !config.mongodbUrl) {
    throw new TributaryError('INVALID_CONFIG', `the ${name} consumer writes to the document store, which without MONGODB_URL is the SQLite store owned by the API process: `
      + `run it inside the API process (TRIBUTARY_CONSUMERS=${name} on \`tributary dev\`), or set MONGODB_URL`);
  }
  const logger = opts.logger ?? pino({ level: config.logLevel, base: { service: 'tributary', consumer: name } });
  const metrics = new Metrics({ defaultMetrics: config.metricsEnabled });
  const closers: Array<() => Promise<void> | void> = [];
  const closeAll = async () => { for (const c of closers.splice(0).reverse()) await c(); };
  try {
    const log = createKafkaLog(config, logger);
    closers.push(() => log.close());
    await log.connect();
    if (config.kafkaApplyTopics) await log.applyTopics(topicSpecs(config.partitions));
    // the same codec choice as the API process, so both sides of a topic agree on the wire format
    const codec = createValueCodec(config);
    closers.push(() => codec.close());
    const deps: ConsumerDeps = { config, logger, metrics, log, codec, closers };
    let sink: string | null = null;
    if (needs.includes('store')) {
      deps.store = await openMongoStore(config, closers);
      sink = `mongodb store ${WAREHOUSE_DB}.${WAREHOUSE_COLLECTION}`;
    }
    if (needs.includes('index')) {
      const { embedder, index, cache } = await openIndexing(config, closers, 'pipeline');
      Object.assign(deps, { embedder, cache, index });
      sink = `${index.kind} index, ${embedder.id} embedder`;
    }
    if (name === 'judge') {
      if (!judgeRuns(config)) {
        throw new TributaryError('INVALID_CONFIG', 'the judge consumer scores a sample of RAG traces with the LLM: it needs an LLM (TRIBUTARY_LLM_BASE_URL, TRIBUTARY_LLM_UPSTREAM or TRIBUTARY_LLM_GGUF), TRIBUTARY_RAG_TRACES=on and TRIBUTARY_JUDGE_SAMPLE above 0');
      }
      deps.llm = (await openLanguageModels(config, closers)).llm;
      deps.prompts = loadPrompts(config.promptsDir);
      sink = `tributary.rag.judgements, ${Math.round(config.judgeSample * 1000) / 10}% of traces judged by ${deps.llm?.id}`;
    } else if (needs.includes('llm') && config.finetuneDatasets.some((d) => d.instructions === 'llm')) {
      // only datasets whose instructions an LLM writes load one (the local model takes every core)
      deps.llm = (await openLanguageModels(config, closers)).llm;
    }
    if (name === 'finetune-trigger') sink = `dataset registry and ${config.finetuneDatasets.length} dataset(s): ${config.finetuneDatasets.map((d) => `${d.name} → ${d.launcher.type}`).join(', ')}`;
    const consumer = buildConsumer(name, deps);
    const server = await startMetricsServer({
      host: config.host, port: config.metricsPort, metrics, process: `consume ${name}`,
      // healthy while it consumes; a consumer whose dependencies fail keeps retrying and says so (degraded) but is alive
      health: () => ({ ok: consumer.running, detail: { consumer: consumer.status } }),
    });
    closers.push(() => server.close());
    let closed = false;
    return {
      name, consumer, logger, metrics, log, sink, metricsUrl: server.url,
      start() { consumer.start(); },
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
export async function createLagMonitorProcess(config: Config, opts: { logger?: Logger } = {}): Promise<{ sink: null; metricsUrl: string; start(): void; close(): Promise<void> }> {
  if (config.mode !== 'kafka') {
    throw new TributaryError('INVALID_CONFIG', 'TRIBUTARY_MODE (mode): the lag monitor runs as a separate process only with TRIBUTARY_MODE=kafka; in embedded mode `tributary dev` runs it');
  }
  const logger = opts.logger ?? pino({ level: config.logLevel, base: { service: 'tributary', consumer: 'lag-monitor' } });
  const metrics = new Metrics({ defaultMetrics: config.metricsEnabled });
  const log = createKafkaLog(config, logger);
  try {
    await log.connect();
  } catch (e) {
    await log.close();
    throw e;
  }
  const codec = createValueCodec(config);
  const { LagMonitor } = await import('../consumers/lag-monitor/lag-monitor.ts');
  const monitor = new LagMonitor({
    log, codec, metrics, logger,
    expected: defaultConsumers(config).map((n) => PipelineConsumers[n]),
  });
  let started = false;
  let server;
  try {
    server = await startMetricsServer({ host: config.host, port: config.metricsPort, metrics, process: 'consume lag-monitor', health: () => ({ ok: started, detail: { lastEvaluationMs: monitor.latest()?.evaluatedAtMs ?? null } }) });
  } catch (e) {
    await codec.close();
    await log.close();
    throw e;
  }
  let closed = false;
  return {
    sink: null,
    metricsUrl: server.url,
    start() { monitor.start(); started = true; },
    async close() {
      if (closed) return;
      closed = true;
      started = false;
      await server.close();
      await monitor.stop();
      await codec.close();
      await log.close();
    },
  };
}
