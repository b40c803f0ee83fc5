import { findTributaryError, toTributaryError } from '../../ports/errors.ts';
import type { Llm } from '../../ports/llm.ts';
import type { PromptTemplate } from '../../streams/prompts/template.ts';
import { applyOrder, buildRerankMessages, parseRerankReply, rerankResponseSchema } from '../../streams/rag/rerank.ts';

/**
 * The LLM rerank step, shared by RAG and /v1/search: the model orders the candidates by how well they
 * answer the question. It reports what it did or why it did not (no LLM, too few candidates, a
 * failed call — then the retrieval order is kept); only an abort is thrown.
 */

export type RerankStep = { status: 'applied'; method: 'llm'; candidates: number } | { status: 'skipped'; reason: string };

/** Candidates to retrieve for a rerank that returns `k`: three times k, at most 20 (never fewer than k). */
export const RERANK_MAX_CANDIDATES = 20;
export function rerankCandidates(k: number): number {
  return Math.max(k, Math.min(RERANK_MAX_CANDIDATES, k * 3));
}

const RERANK_MAX_TOKENS = 300;

export function llmSkipReason(e: unknown): string {
  const te = findTributaryError(e) ?? toTributaryError(e);
  return `LLM call failed (${te.code}): ${te.message}`;
}

export async function rerankWithLlm<T>(
  deps: { llm: Llm | null; template: PromptTemplate },
  question: string, items: readonly T[], textOf: (item: T) => string, opts: { wanted: boolean; signal?: AbortSignal },
): Promise<{ items: T[]; step: RerankStep }> {
  const keep = (reason: string) => ({ items: [...items], step: { status: 'skipped' as const, reason } });
  if (!opts.wanted) return keep('disabled by request');
  const { llm } = deps;
  if (!llm) return keep('no reranker configured (needs an LLM)');
  if (items.length < 2) return keep('fewer than 2 candidates');
  try {
    const reply = await llm.chat(buildRerankMessages(deps.template, question, items.map(textOf)), {
      maxTokens: RERANK_MAX_TOKENS, temperature: 0,
      ...(llm.structuredOutput ? { responseSchema: rerankResponseSchema(items.length) } : {}), ...(opts.signal ? { signal: opts.signal } : {}),
    });
    return { items: applyOrder(items, parseRerankReply(reply.text, items.length)), step: { status: 'applied', method: 'llm', candidates: items.length } };
  } catch (e) {
    if (opts.signal?.aborted) throw e;
    return keep(`${llmSkipReason(e)}; kept the retrieval order`);
  }
}
