/**
 * Retrieval metrics over ranked document ids, with binary relevance. Pure. Hits are chunks: a
 * document counts at the rank of its first chunk (`rankedDocuments`), so a document with several
 * matching chunks is not counted twice.
 *
 *  - reciprocal rank @k: 1 / rank of the first relevant document within k (0 if none);
 *  - nDCG @k: DCG of the ranking (gain 1 / log2(rank + 1) per relevant document) over the DCG of the
 *    ideal ranking (every relevant document first);
 *  - recall @n: the share of the relevant documents found within n.
 */

export interface QueryMetrics {
  reciprocalRank: number;
  ndcg: number;
  recallAt5: number;
  recallAtK: number;
}

/** Document ids in the order their first chunk appears. */
export function rankedDocuments(hitDocIds: readonly string[]): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const id of hitDocIds) {
    if (seen.has(id)) continue;
    seen.add(id);
    out.push(id);
  }
  return out;
}

export function queryMetrics(ranked: readonly string[], relevant: ReadonlySet<string>, k: number): QueryMetrics {
  if (relevant.size === 0) throw new Error('a query needs at least one relevant document');
  const top = ranked.slice(0, k);
  const first = top.findIndex((id) => relevant.has(id));
  let dcg = 0;
  top.forEach((id, i) => { if (relevant.has(id)) dcg += 1 / Math.log2(i + 2); });
  let ideal = 0;
  for (let i = 0; i < Math.min(relevant.size, k); i++) ideal += 1 / Math.log2(i + 2);
  const recall = (n: number) => ranked.slice(0, n).filter((id) => relevant.has(id)).length / relevant.size;
  return { reciprocalRank: first < 0 ? 0 : 1 / (first + 1), ndcg: dcg / ideal, recallAt5: recall(Math.min(5, k)), recallAtK: recall(k) };
}

export interface ModeSummary {
  queries: number;
  mrr: number;
  ndcg: number;
  recallAt5: number;
  recallAtK: number;
}

export function summarise(perQuery: readonly QueryMetrics[]): ModeSummary {
  const n = perQuery.length;
  const mean = (f: (m: QueryMetrics) => number) => (n === 0 ? 0 : round(perQuery.reduce((s, m) => s + f(m), 0) / n));
  return { queries: n, mrr: mean((m) => m.reciprocalRank), ndcg: mean((m) => m.ndcg), recallAt5: mean((m) => m.recallAt5), recallAtK: mean((m) => m.recallAtK) };
}

const round = (x: number) => Math.round(x * 10_000) / 10_000;
