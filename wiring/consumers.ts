import type { Logger } from 'pino';
import type { DocumentStore } from '../ports/document-store.ts';
import type { Embedder, EmbeddingCache } from '../ports/embedder.ts';
import { TributaryError } from '../ports/errors.ts';
import type { EventLog } from '../ports/event-log.ts';
import type { ValueCodec } from '../ports/value-codec.ts';
import type { VectorIndex } from '../ports/vector-index.ts';
import { CDC_TOPIC, Groups, Topics } from '../schemas/topics.ts';
import type { Metrics } from '../observability/metrics.ts';
import { StageConsumer } from '../consumers/runtime/stage-consumer.ts';
import { CleanStage } from '../consumers/clean/clean-stage.ts';
import { EmbedStage } from '../consumers/embed/embed-stage.ts';
import { ArchiveStage } from '../consumers/archive/archive-stage.ts';
import type { Config } from './config.ts';

/**
 * The pipeline's consumers by name: what each reads, its group, and what it needs. Used by
 * `createSystem` (consumers inside the API process) and by `tributary consume <name>` (one
 * consumer per process, Kafka mode).
 */

export const CONSUMER_NAMES = ['clean', 'embed', 'archive'] as const;
export type ConsumerName = (typeof CONSUMER_NAMES)[number];

export const ConsumerSpecs: Record<ConsumerName, { group: string; topics: string[]; summary: string; needs: Array<'store' | 'index'> }> = {
  clean: { group: Groups.clean, topics: [CDC_TOPIC], summary: 'CDC change events → cleaned documents (tributary.content.cleaned)', needs: [] },
  embed: { group: Groups.embed, topics: [Topics.cleaned], summary: 'cleaned documents → chunks → embeddings → vector index', needs: ['index'] },
  archive: { group: Groups.archive, topics: [Topics.contentEvents], summary: 'content events from producers (tributary.content.events) → the document warehouse', needs: ['store'] },
};

export function isConsumerName(name: string): name is ConsumerName {
  return (CONSUMER_NAMES as readonly string[]).includes(name);
}

/** TRIBUTARY_CONSUMERS → names: "all", "none", or a comma-separated list. */
export function parseConsumerList(spec: string): ConsumerName[] {
  if (spec === 'all') return [...CONSUMER_NAMES];
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
  store?: DocumentStore;
  embedder?: Embedder;
  cache?: EmbeddingCache;
  index?: VectorIndex;
  /** How cleaned documents are written and read (Schema Registry wire format or JSON); plain JSON when absent. */
  codec?: ValueCodec;
}

export function buildStageConsumer(name: ConsumerName, d: ConsumerDeps): StageConsumer {
  const { config } = d;
  const common = {
    log: d.log,
    batch: { maxRecords: config.batchMaxRecords, maxBytes: config.batchMaxBytes, maxWaitMs: config.batchMaxWaitMs },
    retry: { baseMs: config.retryBaseMs, maxMs: config.retryMaxMs, maxAttempts: config.maxAttempts },
    logger: d.logger,
    metrics: d.metrics,
    group: ConsumerSpecs[name].group,
    topics: ConsumerSpecs[name].topics,
  };
  switch (name) {
    case 'clean':
      return new StageConsumer({ ...common, stage: new CleanStage({ log: d.log, ...(d.codec ? { codec: d.codec } : {}) }) });
    case 'embed': {
      if (!d.embedder || !d.cache || !d.index) throw new Error('the embed consumer needs an embedder, a cache and an index');
      return new StageConsumer({
        ...common,
        stage: new EmbedStage({
          embedder: d.embedder, cache: d.cache, index: d.index, metrics: d.metrics,
          chunking: { maxTokens: config.chunkTokens, overlapTokens: config.chunkOverlapTokens },
          ...(d.codec ? { codec: d.codec } : {}),
        }),
      });
    }
    case 'archive': {
      if (!d.store) throw new Error('the archive consumer needs the document store');
      return new StageConsumer({ ...common, stage: new ArchiveStage({ store: d.store, ...(d.codec ? { codec: d.codec } : {}) }) });
    }
  }
}
