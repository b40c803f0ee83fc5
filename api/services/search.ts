import type { SearchFilter, SearchHit, SearchRequest, VectorIndex } from '../../ports/vector-index.ts';
import type { ApiContext } from '../context.ts';
import { PROBE_CATEGORY } from '../../schemas/content.ts';
import { rerankCandidates, rerankWithLlm, type RerankStep } from './rerank.ts';

/** One search hit as the API shows it. */
export interface HitView {
  docId: string;
  chunkIndex: number;
  score: number;
  text: string;
  category: string;
  author: string;
  title: string | null;
  url: string | null;
}

export function toHitView(h: SearchHit, score = h.score): HitView {
  const p = h.payload;
  return { docId: p.doc_id, chunkIndex: p.chunk_index, score, text: p.text, category: p.category, author: p.author, title: p.title, url: p.url };
}

/** Which side of the index answers: both fused (hybrid), meaning only (dense), or keywords only (BM25). */
export const SEARCH_MODES = ['hybrid', 'dense', 'keyword'] as const;
export type SearchMode = (typeof SEARCH_MODES)[number];

export interface SearchQuery {
  query: string;
  k: number;
  filter?: SearchFilter;
  /** Default hybrid. */
  mode?: SearchMode;
  /** Candidates per side before fusion (the index's default when unset). */
  candidates?: number;
}

/** The index request for a mode: a keyword search needs no vector, a dense one no text. */
export function modeRequest(mode: SearchMode, vector: Float32Array | undefined, text: string): { vector?: Float32Array; text?: string } {
  if (mode === 'keyword') return { text };
  if (mode === 'dense') return { vector: vector! };
  return { vector: vector!, text };
}

/**
 * The best `k` hits without the freshness probes' documents (one per API process, one chunk each):
 * the index is asked for one more, and when probe hits crowd real ones out of a full answer (several
 * replicas, a query that matches the probes' text), again for four times as many, until k real hits
 * are found or the index has no more.
 */
export async function searchWithoutProbes(index: Pick<VectorIndex, 'search'>, req: SearchRequest): Promise<SearchHit[]> {
  let want = req.k + 1;
  for (;;) {
    const hits = await index.search({ ...req, k: want });
    const kept = hits.filter((h) => h.payload.category !== PROBE_CATEGORY);
    if (kept.length >= req.k || hits.length < want || want >= MAX_PROBE_FETCH) return kept.slice(0, req.k);
    want = Math.min(MAX_PROBE_FETCH, want * 4);
  }
}

const MAX_PROBE_FETCH = 1000;

/** Searches in one mode; the query is embedded (one embedder call) unless the mode is keyword. */
export async function searchInMode(ctx: Pick<ApiContext, 'embedder' | 'index' | 'metrics'>, q: SearchQuery, signal?: AbortSignal): Promise<SearchHit[]> {
  const mode = q.mode ?? 'hybrid';
  const started = performance.now();
  const vector = mode === 'keyword' ? undefined : (await ctx.embedder.embed([q.query], signal, { priority: 'query' }))[0];
  const hits = await searchWithoutProbes(ctx.index, {
    ...modeRequest(mode, vector, q.query), k: q.k,
    ...(q.filter ? { filter: q.filter } : {}), ...(q.candidates !== undefined ? { candidates: q.candidates } : {}),
  });
  ctx.metrics.searchSeconds.observe((performance.now() - started) / 1000);
  return hits;
}

/** Embeds the query (one embedder call) and runs a hybrid search: dense + keyword, fused by the index. */
export function hybridSearch(ctx: Pick<ApiContext, 'embedder' | 'index' | 'metrics'>, q: SearchQuery, signal?: AbortSignal): Promise<SearchHit[]> {
  return searchInMode(ctx, { ...q, mode: 'hybrid' }, signal);
}

/**
 * /v1/search: a search in one mode, reranked by the LLM when asked (k×3 candidates, at most 20, the
 * best k kept). Without an LLM, or when the call fails, the hits keep their retrieval order and the
 * step says why.
 */
export async function searchAndRerank(
  ctx: Pick<ApiContext, 'embedder' | 'index' | 'metrics' | 'llm' | 'prompts'>, q: SearchQuery & { rerank: boolean }, signal?: AbortSignal,
): Promise<{ hits: SearchHit[]; rerank: RerankStep }> {
  const wanted = q.rerank && ctx.llm !== null;
  const hits = await searchInMode(ctx, { ...q, k: wanted ? rerankCandidates(q.k) : q.k }, signal);
  const r = await rerankWithLlm({ llm: ctx.llm, template: ctx.prompts.rerank }, q.query, hits, (h) => h.payload.text, { wanted: q.rerank, ...(signal ? { signal } : {}) });
  return { hits: r.items.slice(0, q.k), rerank: r.step };
}
