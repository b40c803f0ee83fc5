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
  /** Interactive API documentation (Swagger UI). */
  docs: '/docs',
} as const;
