import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Every metric name, in one place. */
export const MetricNames = {
  recordsProcessed: 'tributary_stage_records_total',
  recordsFailed: 'tributary_stage_failures_total',
  dlqRecords: 'tributary_dlq_records_total',
  batchSeconds: 'tributary_stage_batch_seconds',
  freshnessSeconds: 'tributary_freshness_seconds',
  chunksIndexed: 'tributary_chunks_indexed_total',
  embedCacheHits: 'tributary_embed_cache_hits_total',
  embedCacheMisses: 'tributary_embed_cache_misses_total',
  embedSeconds: 'tributary_embed_seconds',
  consumerLag: 'tributary_consumer_lag',
  consumerLagSeconds: 'tributary_consumer_lag_seconds',
  consumerLagStatus: 'tributary_consumer_lag_status',
  consumerGroupStatus: 'tributary_consumer_group_status',
  consumerRunning: 'tributary_consumer_running',
  httpRequests: 'tributary_http_requests_total',
  searchSeconds: 'tributary_search_seconds',
} as const;

/** Structured log event names. */
export const LogEvents = {
  stageBatch: 'stage.batch',
  stageRetry: 'stage.retry',
  stageDlq: 'stage.dlq',
  stageInfraError: 'stage.infra_error',
  consumerStarted: 'consumer.started',
  consumerStopped: 'consumer.stopped',
  lagStatusChanged: 'lag.status_changed',
  lagMonitorFailed: 'lag.monitor_failed',
  systemReady: 'system.ready',
  systemStopping: 'system.stopping',
} as const;

export class Metrics {
  readonly registry = new Registry();
  readonly recordsProcessed = new Counter({ name: MetricNames.recordsProcessed, help: 'Records processed by a stage', labelNames: ['stage', 'outcome'], registers: [this.registry] });
  readonly recordsFailed = new Counter({ name: MetricNames.recordsFailed, help: 'Record failures by stage and error code', labelNames: ['stage', 'code'], registers: [this.registry] });
  readonly dlqRecords = new Counter({ name: MetricNames.dlqRecords, help: 'Records sent to the DLQ', labelNames: ['stage', 'code'], registers: [this.registry] });
  readonly batchSeconds = new Histogram({ name: MetricNames.batchSeconds, help: 'Batch processing time', labelNames: ['stage'], buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [this.registry] });
  readonly freshnessSeconds = new Histogram({ name: MetricNames.freshnessSeconds, help: 'Source write to searchable', buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60], registers: [this.registry] });
  readonly chunksIndexed = new Counter({ name: MetricNames.chunksIndexed, help: 'Chunks written to the index', registers: [this.registry] });
  readonly embedCacheHits = new Counter({ name: MetricNames.embedCacheHits, help: 'Embedding cache hits', registers: [this.registry] });
  readonly embedCacheMisses = new Counter({ name: MetricNames.embedCacheMisses, help: 'Embedding cache misses', registers: [this.registry] });
  readonly embedSeconds = new Histogram({ name: MetricNames.embedSeconds, help: 'Embedder call time', buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5], registers: [this.registry] });
  readonly consumerLag = new Gauge({ name: MetricNames.consumerLag, help: 'Consumer lag in records', labelNames: ['group', 'topic', 'partition'], registers: [this.registry] });
  readonly consumerLagSeconds = new Gauge({ name: MetricNames.consumerLagSeconds, help: 'Age of the next unconsumed record (0 when caught up)', labelNames: ['group', 'topic', 'partition'], registers: [this.registry] });
  readonly consumerLagStatus = new Gauge({ name: MetricNames.consumerLagStatus, help: 'Lag status by Burrow\'s rules: 0 OK, 1 WARN, 2 REWIND, 3 STALL, 4 STOP', labelNames: ['group', 'topic', 'partition'], registers: [this.registry] });
  readonly consumerGroupStatus = new Gauge({ name: MetricNames.consumerGroupStatus, help: 'Worst partition lag status of the group: 0 OK, 1 WARN, 2 REWIND, 3 STALL, 4 STOP', labelNames: ['group'], registers: [this.registry] });
  readonly consumerRunning = new Gauge({ name: MetricNames.consumerRunning, help: '1 if the consumer is running', labelNames: ['consumer'], registers: [this.registry] });
  readonly httpRequests = new Counter({ name: MetricNames.httpRequests, help: 'HTTP requests', labelNames: ['route', 'method', 'status'], registers: [this.registry] });
  readonly searchSeconds = new Histogram({ name: MetricNames.searchSeconds, help: 'Search latency', buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1], registers: [this.registry] });

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    if (opts.defaultMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'tributary_' });
  }
}
