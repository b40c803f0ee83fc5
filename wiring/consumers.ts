import type { Logger } from 'pino';
import type { DocumentStore } from '../ports/document-store.ts';
import type { Embedder, EmbeddingCache } from '../ports/embedder.ts';
import { TributaryError } from '../ports/errors.ts';
import type { EventLog } from '../ports/event-log.ts';
import type { ValueCodec } from '../ports/value-codec.ts';
import type { VectorIndex } from '../ports/vector-index.ts';
import { PipelineConsumers, type PipelineConsumerName } from '../schemas/topics.ts';
import type { Metrics } from '../observability/metrics.ts';
import { StageConsumer } from '../consumers/runtime/stage-consumer.ts';
import { CleanStage } from '../consumers/clean/clean-stage.ts';
import { EmbedStage } from '../consumers/embed/embed-stage.ts';
import { ArchiveStage } from '../consumers/archive/archive-stage.ts';
import type { Llm } from '../ports/llm.ts';
import type { Config } from './config.ts';
import { createFinetuneTrigger } from './finetune.ts';
import { JudgeStage } from '../consumers/judge/judge-stage.ts';
import type { PromptSet } from '../streams/prompts/catalogue.ts';
import { judgeRuns } from './config-rules.ts';

/**
 * The pipeline's consumers by name: what each reads (schemas/topics.ts, PipelineConsumers), a summary,
 * and what it needs. Used by `createSystem` (consumers inside the API process) and by
 * `tributary consume <name>` (one consumer per process, Kafka mode).
 */

/** Chunks per index write when the embed stage overlaps embedding with writes (Qdrant): a few writes per batch. */
const OVERLAP_CHUNKS = 256;

export const CONSUMER_NAMES = Object.keys(PipelineConsumers) as PipelineConsumerName[];
export type ConsumerName = PipelineConsumerName;

export const ConsumerSpecs: Record<ConsumerName, { group: string; topics: readonly string[]; summary: string; needs: Array<'store' | 'index' | 'llm'> }> = {
  clean: { ...PipelineConsumers.clean, summary: 'CDC change events → cleaned documents (tributary.content.cleaned)', needs: [] },
  embed: { ...PipelineConsumers.embed, summary: 'cleaned documents → chunks → embeddings → vector index', needs: ['index'] },
  archive: { ...PipelineConsumers.archive, summary: 'content events from producers (tributary.content.events) → the document warehouse', needs: ['store'] },
  'finetune-trigger': {
    ...PipelineConsumers['finetune-trigger'],
    summary: 'cleaned documents and feedback → pinned dataset versions → one fine-tune job per window (TRIBUTARY_FINETUNE_DATASETS)',
    needs: ['llm'],
  },
  judge: {
    ...PipelineConsumers.judge,
    summary: 'RAG traces → LLM-as-judge scores for a sampled share (tributary.rag.judgements; TRIBUTARY_JUDGE_SAMPLE)',
    needs: ['llm'],
  },
};

/** A consumer as its owner sees it: started, stopped, and its status. StageConsumer and FinetuneTrigger are both. */
export interface RunnableConsumer {
  readonly name: string;
  readonly running: boolean;
  readonly status: { name: string; group: string; running: boolean; degraded: boolean; lastError: string | null };
  start(): void;
  stop(): Promise<void>;
}

/** The consumers this configuration runs: the trigger only when datasets are configured, the judge only with an LLM, traces and a sample. */
export function defaultConsumers(config: Config): ConsumerName[] {
  return CONSUMER_NAMES.filter((n) => (n === 'finetune-trigger' ? config.finetuneDatasets.length > 0 : n === 'judge' ? judgeRuns(config) : true));
}

/**
 * What TRIBUTARY_CONSUMERS=all means for a Kafka-mode API process: every consumer but the finetune
 * trigger, which keeps its state on its disk and must run exactly once. Every API replica has the
 * dataset list (to serve it), so "all" taking the trigger too would start one per replica: it is named
 * explicitly (TRIBUTARY_CONSUMERS=…,finetune-trigger) or run as `tributary consume finetune-trigger`.
 */
export function allForApiProcess(config: Config): ConsumerName[] {
  return defaultConsumers(config).filter((n) => n !== 'finetune-trigger');
}

export function isConsumerName(name: string): name is ConsumerName {
  return (CONSUMER_NAMES as readonly string[]).includes(name);
}

/** TRIBUTARY_CONSUMERS → names: "all", "none", or a comma-separated list. */
export function parseConsumerList(spec: string, config?: Config): ConsumerName[] {
  if (spec === 'all') return config ? allForApiProcess(config) : CONSUMER_NAMES.filter((n) => n !== 'finetune-trigger');
  if (spec === 'none') return [];
  const names = spec.split(',').map((s) => s.trim()).filter(Boolean);
  const bad = names.filter((n) => !isConsumerName(n));
  if (bad.length > 0) {
    throw new TributaryError('INVALID_CONFIG', `TRIBUTARY_CONSUMERS (consumers): unknown consumer ${bad.map((b) => `"${b}"`).join(', ')}; known: ${CONSUMER_NAMES.join(', ')} (or all, none)`);
  }
  return [...new Set(names)] as ConsumerName[];
}

export interface ConsumerDeps {
  config: Config;
  log: EventLog;
  logger: Logger;
  metrics: Metrics;
  /** How values of the topics with a schema are read and written (Schema Registry wire format or JSON). */
  codec: ValueCodec;
  store?: DocumentStore;
  embedder?: Embedder;
  cache?: EmbeddingCache;
  index?: VectorIndex;
  /** The LLM of the finetune trigger (datasets with instructions written by an LLM) and of the judge. */
  llm?: Llm | null;
  /** The prompt templates (the judge's). */
  prompts?: PromptSet;
  /** Closes what a consumer opened for itself (the finetune trigger's state and launchers). */
  closers?: Array<() => Promise<void> | void>;
}

export function buildConsumer(name: ConsumerName, d: ConsumerDeps): RunnableConsumer {
  const { config, codec } = d;
  const common = {
    log: d.log,
    batch: { maxRecords: config.batchMaxRecords, maxBytes: config.batchMaxBytes, maxWaitMs: config.batchMaxWaitMs },
    retry: { baseMs: config.retryBaseMs, maxMs: config.retryMaxMs, maxAttempts: config.maxAttempts },
    logger: d.logger,
    metrics: d.metrics,
    group: ConsumerSpecs[name].group,
    topics: [...ConsumerSpecs[name].topics],
  };
  switch (name) {
    case 'clean':
      return new StageConsumer({ ...common, stage: new CleanStage({ log: d.log, codec, metrics: d.metrics }) });
    case 'embed': {
      if (!d.embedder || !d.cache || !d.index) throw new Error('the embed consumer needs an embedder, a cache and an index');
      return new StageConsumer({
        ...common,
        stage: new EmbedStage({
          embedder: d.embedder, cache: d.cache, index: d.index, metrics: d.metrics, codec,
          chunking: { maxTokens: config.chunkTokens, overlapTokens: config.chunkOverlapTokens },
          // an index across the network (Qdrant): the next group embeds while the previous one's write is in flight
          overlapChunks: d.index.kind === 'embedded' ? 0 : OVERLAP_CHUNKS,
        }),
      });
    }
    case 'archive': {
      if (!d.store) throw new Error('the archive consumer needs the document store');
      return new StageConsumer({ ...common, stage: new ArchiveStage({ store: d.store, codec }) });
    }
    case 'finetune-trigger': {
      if (!d.closers) throw new Error('the finetune trigger needs a list of closers for what it opens');
      return createFinetuneTrigger(config, { log: d.log, codec, logger: d.logger, metrics: d.metrics, llm: d.llm ?? null }, d.closers);
    }
    case 'judge': {
      if (!d.llm || !d.prompts) throw new TributaryError('INVALID_CONFIG', 'the judge consumer scores answers with the LLM, and none is configured (TRIBUTARY_LLM_BASE_URL, TRIBUTARY_LLM_UPSTREAM or a local model)');
      return new StageConsumer({
        ...common,
        stage: new JudgeStage({ llm: d.llm, template: d.prompts.judge, metrics: d.metrics, log: d.log, codec, sample: config.judgeSample }),
      });
    }
  }
}
