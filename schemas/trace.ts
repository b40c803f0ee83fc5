import { z } from 'zod';

/**
 * A RAG trace (tributary.rag.traces, key = traceId): what one RAG query did, step by step — the
 * question, the filters self-query found, the expanded queries, what was retrieved (chunk, score and
 * rank on each side) and the rerank order, the prompt template and its size, the answer and its
 * citations, the model, the latency of each step, the tokens, and whether the answer came from the
 * cache. The prompt text only when prompt logging is on (TRIBUTARY_INFERENCE_LOG_PROMPTS).
 */

const hit = z.object({
  docId: z.string(), chunkIndex: z.number().int(), score: z.number(),
  denseRank: z.number().int().nullable(), sparseRank: z.number().int().nullable(),
});

export const ragTraceSchema = z.object({
  traceId: z.string().min(1),
  at: z.iso.datetime(),
  query: z.string(),
  mode: z.enum(['hybrid', 'dense', 'keyword']),
  filter: z.record(z.string(), z.unknown()).nullable(),
  selfQuery: z.record(z.string(), z.unknown()),
  expandedQueries: z.array(z.string()),
  retrieved: z.array(hit).describe('The fused candidates, in retrieval order, before rerank'),
  reranked: z.array(z.object({ docId: z.string(), chunkIndex: z.number().int() })).nullable().describe('The order after rerank (null: not reranked)'),
  sources: z.array(z.object({
    docId: z.string(), chunkIndex: z.number().int(), score: z.number(),
    text: z.string().optional().describe('The chunk as the answer was given it (a later update of the document does not change what the trace shows)'),
  })),
  prompt: z.object({ templateId: z.string(), templateVersion: z.number().int(), tokens: z.number().int().nullable(), text: z.string().nullable() }),
  answer: z.string(),
  answerMode: z.enum(['extractive', 'llm']),
  citations: z.object({ cited: z.array(z.number().int()), removed: z.array(z.number().int()) }).nullable(),
  model: z.string().nullable(),
  latencyMs: z.object({ selfQuery: z.number(), expansion: z.number(), search: z.number(), rerank: z.number(), answer: z.number(), total: z.number() }),
  tokens: z.object({ prompt: z.number().int(), completion: z.number().int().nullable() }).nullable(),
  cache: z.object({ hit: z.boolean(), cachedTraceId: z.string().optional() }),
  /** Guardrail verdicts: injection rules tripped by the question and chunks, masks put in the answer. */
  guardrails: z.record(z.string(), z.unknown()).optional(),
});
export type RagTrace = z.infer<typeof ragTraceSchema>;
