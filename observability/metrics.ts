import { AggregatorRegistry, Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type MetricObjectWithValues, type MetricValue } from 'prom-client';

/** A registry's metrics as JSON (prom-client's `getMetricsAsJSON`): what a pipeline thread sends the API thread. */
export type MetricsSnapshot = Array<MetricObjectWithValues<MetricValue<string>>>;

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
  inferenceRequests: 'tributary_inference_requests_total',
  inferenceQueueSeconds: 'tributary_inference_queue_seconds',
  inferenceTtftSeconds: 'tributary_inference_ttft_seconds',
  inferenceRequestSeconds: 'tributary_inference_request_seconds',
  inferenceTokensPerSecond: 'tributary_inference_tokens_per_second',
  inferenceTokens: 'tributary_inference_tokens_total',
  inferenceInFlight: 'tributary_inference_in_flight',
  inferenceQueued: 'tributary_inference_queued',
  inferenceErrors: 'tributary_inference_errors_total',
  inferenceEjections: 'tributary_inference_ejections_total',
  inferenceUpstreamUp: 'tributary_inference_upstream_up',
  authRejections: 'tributary_auth_rejections_total',
  cdcResnapshots: 'tributary_cdc_resnapshots_total',
  answerCache: 'tributary_answer_cache_total',
  traceWriteFailures: 'tributary_rag_trace_write_failures_total',
  finetunePending: 'tributary_finetune_pending_items',
  finetuneWindows: 'tributary_finetune_windows_total',
  finetuneJobStates: 'tributary_finetune_job_states_total',
  finetuneLaunchSeconds: 'tributary_finetune_launch_seconds',
  finetuneWindowToLaunchSeconds: 'tributary_finetune_window_to_launch_seconds',
  freshnessProbeSeconds: 'tributary_freshness_probe_seconds',
  freshnessProbeOverSlo: 'tributary_freshness_probe_over_slo_total',
  freshnessProbeFailures: 'tributary_freshness_probe_failures_total',
  freshnessSloSeconds: 'tributary_freshness_slo_seconds',
  stageFreshnessSeconds: 'tributary_stage_freshness_seconds',
  indexWriteSeconds: 'tributary_index_write_seconds',
  ragJudgements: 'tributary_rag_judgements_total',
  ragJudgeScore: 'tributary_rag_judge_score',
  ragJudgeSeconds: 'tributary_rag_judge_seconds',
  guardInjectionLlm: 'tributary_guard_injection_llm_total',
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
  systemModels: 'system.models',
  systemStopping: 'system.stopping',
  inferenceRequest: 'inference.request',
  inferenceAttemptFailed: 'inference.attempt_failed',
  inferenceRejected: 'inference.rejected',
  inferenceEjected: 'inference.ejected',
  inferenceRecovered: 'inference.recovered',
  inferenceHealthCheckFailed: 'inference.health_check_failed',
  inferencePrompt: 'inference.prompt',
  authOpen: 'auth.open',
  authRejected: 'auth.rejected',
} as const;

/**
 * OpenTelemetry span names (observability/tracing.ts). HTTP server spans are named by the OTel
 * convention instead, "<METHOD> <route pattern>" (httpSpanName).
 */
export const SpanNames = {
  /** A document store write (put) or delete; the change event carries its context. */
  storePut: 'tributary.store.put',
  storeDelete: 'tributary.store.delete',
  /** One relayed batch: change feed → event log (parent: its first record's context; links: the others). */
  relayBatch: 'tributary.relay.batch',
  /** One change event relayed, under the context kept with its document; the log record carries it on. */
  relayRecord: 'tributary.relay.record',
  /** One batch of a pipeline stage (attribute tributary.stage), parent/links as relayBatch. */
  stageBatch: 'tributary.stage.batch',
  /** One change event cleaned, under the record's context; the cleaned record carries it on. */
  cleanDocument: 'tributary.clean.document',
  /** One embedder call (a batch of texts). */
  embed: 'tributary.embedder.embed',
  /** One write to the vector index (upserts and deletes, acknowledged). */
  indexWrite: 'tributary.index.write',
  ragAnswer: 'tributary.rag.answer',
  ragSelfQuery: 'tributary.rag.self_query',
  ragExpansion: 'tributary.rag.expansion',
  ragSearch: 'tributary.rag.search',
  ragGuardrails: 'tributary.rag.guardrails',
  ragRerank: 'tributary.rag.rerank',
  ragGenerate: 'tributary.rag.generate',
  /** A request through the inference gateway, first attempt to last byte (proxied, or the RAG LLM's). */
  inferenceRequest: 'tributary.inference.request',
  /** Content events published to tributary.content.events. */
  contentPublish: 'tributary.content.publish',
} as const;

/** An HTTP server span's name: "<METHOD> <route pattern>", or the method alone when no route matched. */
export function httpSpanName(method: string, route: string | undefined): string {
  return route ? `${method} ${route}` : method;
}

export class Metrics {
  readonly registry = new Registry();
  readonly recordsProcessed = new Counter({ name: MetricNames.recordsProcessed, help: 'Records processed by a stage', labelNames: ['stage', 'outcome'], registers: [this.registry] });
  readonly recordsFailed = new Counter({ name: MetricNames.recordsFailed, help: 'Record failures by stage and error code', labelNames: ['stage', 'code'], registers: [this.registry] });
  readonly cdcResnapshots = new Counter({ name: MetricNames.cdcResnapshots, help: 'Times the change-stream relay lost its history and took a new snapshot', labelNames: ['collection'], registers: [this.registry] });
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

  readonly inferenceRequests = new Counter({ name: MetricNames.inferenceRequests, help: 'Proxied inference requests by upstream, model and outcome (ok or a failure kind)', labelNames: ['upstream', 'model', 'outcome'], registers: [this.registry] });
  readonly inferenceQueueSeconds = new Histogram({ name: MetricNames.inferenceQueueSeconds, help: 'Wait for a concurrency slot on the upstream', labelNames: ['upstream', 'model'], buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 15, 30], registers: [this.registry] });
  readonly inferenceTtftSeconds = new Histogram({ name: MetricNames.inferenceTtftSeconds, help: 'Request arrival to the first byte sent to the client (time to first token when streaming)', labelNames: ['upstream', 'model'], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers: [this.registry] });
  readonly inferenceRequestSeconds = new Histogram({ name: MetricNames.inferenceRequestSeconds, help: 'Request arrival to the last byte', labelNames: ['upstream', 'model'], buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120], registers: [this.registry] });
  readonly inferenceTokensPerSecond = new Histogram({ name: MetricNames.inferenceTokensPerSecond, help: 'Completion tokens per second after the first token (streams)', labelNames: ['upstream', 'model'], buckets: [1, 5, 10, 20, 40, 80, 160, 320, 640], registers: [this.registry] });
  readonly inferenceTokens = new Counter({ name: MetricNames.inferenceTokens, help: 'Tokens by kind (prompt, completion); from upstream usage, else estimated', labelNames: ['upstream', 'model', 'kind'], registers: [this.registry] });
  readonly inferenceInFlight = new Gauge({ name: MetricNames.inferenceInFlight, help: 'Requests in flight to the upstream', labelNames: ['upstream', 'model'], registers: [this.registry] });
  readonly inferenceQueued = new Gauge({ name: MetricNames.inferenceQueued, help: 'Requests waiting for a slot on the upstream (refreshed on scrape)', labelNames: ['upstream'], registers: [this.registry] });
  readonly inferenceErrors = new Counter({ name: MetricNames.inferenceErrors, help: 'Inference failures by kind (connect, first_byte_timeout, status_5xx, stream_cut, queue_full, …)', labelNames: ['upstream', 'model', 'kind'], registers: [this.registry] });
  readonly inferenceEjections = new Counter({ name: MetricNames.inferenceEjections, help: 'Times an upstream was ejected (circuit opened)', labelNames: ['upstream'], registers: [this.registry] });
  readonly inferenceUpstreamUp = new Gauge({ name: MetricNames.inferenceUpstreamUp, help: '1 while the upstream takes traffic (circuit closed or half-open), 0 while ejected', labelNames: ['upstream'], registers: [this.registry] });
  readonly authRejections = new Counter({ name: MetricNames.authRejections, help: 'Requests refused by access control', labelNames: ['reason'], registers: [this.registry] });
  readonly traceWriteFailures = new Counter({ name: MetricNames.traceWriteFailures, help: 'RAG traces that could not be written to tributary.rag.traces (the answer was still given)', registers: [this.registry] });
  readonly answerCache = new Counter({ name: MetricNames.answerCache, help: 'RAG answer cache lookups: hit, miss, stale (a source changed), expired', labelNames: ['outcome'], registers: [this.registry] });
  readonly finetunePending = new Gauge({ name: MetricNames.finetunePending, help: 'Net-new items counted toward a dataset\'s threshold since its last window', labelNames: ['dataset'], registers: [this.registry] });
  readonly finetuneWindows = new Counter({ name: MetricNames.finetuneWindows, help: 'Fine-tuning windows opened, by what opened them and what became of them (job, empty, failed)', labelNames: ['dataset', 'trigger', 'outcome'], registers: [this.registry] });
  readonly finetuneJobStates = new Counter({ name: MetricNames.finetuneJobStates, help: 'Fine-tune jobs entering a state', labelNames: ['dataset', 'state'], registers: [this.registry] });
  readonly finetuneLaunchSeconds = new Histogram({ name: MetricNames.finetuneLaunchSeconds, help: 'One launch call (a launcher finding or starting the job of a version)', labelNames: ['launcher'], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60], registers: [this.registry] });
  readonly finetuneWindowToLaunchSeconds = new Histogram({ name: MetricNames.finetuneWindowToLaunchSeconds, help: 'From a window opening to its job accepted by the launcher (pin and launch)', labelNames: ['dataset'], buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300], registers: [this.registry] });
  readonly indexWriteSeconds = new Histogram({ name: MetricNames.indexWriteSeconds, help: 'One write to the vector index (a batch of document replacements and deletions), until acknowledged', labelNames: ['index'], buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers: [this.registry] });
  readonly stageFreshnessSeconds = new Histogram({ name: MetricNames.stageFreshnessSeconds, help: 'Source write to each stage done: cleaned (on tributary.content.cleaned), embedded (vectors computed), searchable (in the index)', labelNames: ['stage'], buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60], registers: [this.registry] });
  readonly freshnessProbeSeconds = new Histogram({ name: MetricNames.freshnessProbeSeconds, help: 'The freshness probe: its synthetic document written to the store until searchable', buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120], registers: [this.registry] });
  readonly freshnessProbeOverSlo = new Counter({ name: MetricNames.freshnessProbeOverSlo, help: 'Freshness probes that took longer than the SLO (TRIBUTARY_FRESHNESS_SLO_MS), or never became searchable', registers: [this.registry] });
  readonly freshnessProbeFailures = new Counter({ name: MetricNames.freshnessProbeFailures, help: 'Freshness probes that could not be written or never became searchable within the time limit', labelNames: ['reason'], registers: [this.registry] });
  readonly freshnessSloSeconds = new Gauge({ name: MetricNames.freshnessSloSeconds, help: 'The freshness SLO (TRIBUTARY_FRESHNESS_SLO_MS): a probe slower than this burns the error budget', registers: [this.registry] });
  readonly ragJudgements = new Counter({ name: MetricNames.ragJudgements, help: 'RAG answers judged by the LLM, by origin (online: the sampled share; offline: asked for) and status (judged, failed: the reply was unusable)', labelNames: ['origin', 'status'], registers: [this.registry] });
  readonly ragJudgeScore = new Histogram({ name: MetricNames.ragJudgeScore, help: 'LLM-as-judge scores (1–5) by criterion: groundedness, answerRelevance, contextRelevance, correctness', labelNames: ['origin', 'criterion'], buckets: [1, 2, 3, 4, 5], registers: [this.registry] });
  readonly ragJudgeSeconds = new Histogram({ name: MetricNames.ragJudgeSeconds, help: 'One LLM-as-judge call', buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120], registers: [this.registry] });
  readonly guardInjectionLlm = new Counter({ name: MetricNames.guardInjectionLlm, help: 'LLM prompt-injection classifier calls by outcome (clean, flagged, failed: the classifier could not answer and the rule set alone decided)', labelNames: ['outcome'], registers: [this.registry] });

  /** Other registries that count toward this process's metrics (the pipeline threads'), read on every scrape. */
  private readonly sources = new Set<() => Promise<MetricsSnapshot>>();

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    if (opts.defaultMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'tributary_' });
  }

  /** Adds a registry living elsewhere (a worker thread); returns the function that removes it. */
  addSource(read: () => Promise<MetricsSnapshot>): () => void {
    this.sources.add(read);
    return () => this.sources.delete(read);
  }

  /**
   * One metric of this registry with the same metric in every added source: its values side by side
   * (labelled alike, so a reader that sums by label, as /ops history does with histogram buckets,
   * gets the process's total).
   */
  combined(metric: { get(): Promise<{ values: ReadonlyArray<MetricValue<string> & { metricName?: string }> }> }, name: string): { get(): Promise<{ values: Array<MetricValue<string> & { metricName?: string }> }> } {
    return {
      get: async () => {
        const own = (await metric.get()).values;
        const others = await Promise.allSettled([...this.sources].map((read) => read()));
        const more = others.flatMap((o) => (o.status === 'fulfilled' ? o.value.filter((m) => m.name === name).flatMap((m) => m.values) : []));
        return { values: [...own, ...more] };
      },
    };
  }

  /**
   * The Prometheus text of this process: this registry, plus every added source summed in (counters
   * and histograms add up; the threads never set the gauges this thread sets). A source that does not
   * answer is left out of this scrape rather than failing it.
   */
  async exposition(): Promise<string> {
    if (this.sources.size === 0) return this.registry.metrics();
    const others = await Promise.allSettled([...this.sources].map((read) => read()));
    const snapshots = [await this.registry.getMetricsAsJSON(), ...others.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []))];
    return AggregatorRegistry.aggregate(snapshots).metrics();
  }
}
