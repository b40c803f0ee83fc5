/** Every API route the CLI calls, in one place (the server's routes live in api/routes/). */
export const ApiPaths = {
  /** POST `{items:[...]}` (or one item) → 202 `{ids}`. */
  content: '/v1/content',
  /** POST `{query, k, filter?: {category?, author?}}` → `{hits}`. */
  search: '/v1/search',
  /** POST `{query, k, filter?, stream?, expand?, selfQuery?, rerank?}` → `{answer, mode, sources, steps}`; SSE with `stream: true`. */
  ask: '/v1/rag/query',
  /** GET → `{groups: [{group, topic, partition, committed, end, lag}]}`. */
  lag: '/v1/ops/lag',
  /** GET `?stage&limit` → `{entries: DlqEntry[]}`. */
  dlq: '/v1/ops/dlq',
  /** POST `{stage?, sinceMs?, limit?}` → `{replayed, skipped}`. */
  dlqReplay: '/v1/ops/dlq/replay',
  /** GET `?since&limit` → `{traces: RagTrace[]}` (newest first). */
  traces: '/v1/traces',
  /** POST `{expected?}` → `{judgement}`: the server's LLM judges that trace's answer (409 LLM_NOT_CONFIGURED without one: the server's configuration stands in the way). */
  judge: (traceId: string) => `/v1/traces/${encodeURIComponent(traceId)}/judge`,
  /** GET → `{datasets: [{name, source, format, pending, threshold, cooldownMs, total, lastVersion, lastLaunchAt, lastWindow, launcher, updatedAt}]}`. */
  finetuneDatasets: '/v1/finetune/datasets',
  /** GET `?dataset&state&limit` → `{jobs: FinetuneJob[]}`, newest first. */
  finetuneJobs: '/v1/finetune/jobs',
  /** POST `{dataset, waitMs}` → 200 `{requestId, dataset, outcome: job|empty|failed, job, message}`, or 202 with outcome pending. */
  finetuneTrigger: '/v1/finetune/trigger',
  /** GET → `{versions: DatasetManifest[]}`, oldest first. */
  finetuneVersions: (dataset: string) => `/v1/finetune/datasets/${encodeURIComponent(dataset)}/versions`,
  /** GET → DatasetManifest. */
  finetuneVersion: (dataset: string, version: string) => `/v1/finetune/datasets/${encodeURIComponent(dataset)}/versions/${encodeURIComponent(version)}`,
  /** GET → the file's bytes (application/x-ndjson), header `x-tributary-sha256`. */
  finetuneFile: (dataset: string, version: string, file: string) => `/v1/finetune/datasets/${encodeURIComponent(dataset)}/versions/${encodeURIComponent(version)}/files/${encodeURIComponent(file)}`,
  /** Interactive API documentation (Swagger UI). */
  docs: '/docs',
} as const;
