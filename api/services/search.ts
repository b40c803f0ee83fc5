import type { SearchFilter, SearchHit } from '../../ports/vector-index.ts';
import type { ApiContext } from '../context.ts';

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

export interface SearchQuery {
  query: string;
  k: number;
  filter?: SearchFilter;
}

/** Embeds the query (one embedder call) and runs a hybrid search: dense + keyword, fused by the index. */
export async function hybridSearch(ctx: Pick<ApiContext, 'embedder' | 'index' | 'metrics'>, q: SearchQuery, signal?: AbortSignal): Promise<SearchHit[]> {
  const started = performance.now();
  const [vector] = await ctx.embedder.embed([q.query], signal);
  const hits = await ctx.index.search({ vector: vector!, text: q.query, k: q.k, ...(q.filter ? { filter: q.filter } : {}) });
  ctx.metrics.searchSeconds.observe((performance.now() - started) / 1000);
  return hits;
}
