/**
 * Reciprocal rank fusion (Cormack et al. 2009): score(d) = Σ 1 / (k + rank_i(d)), rank from 1.
 * Used to merge the result lists of the query variants.
 */

export const RRF_K = 60;

export interface Fused<T> {
  item: T;
  score: number;
  /** Rank (from 1) in each input list; null where the item was absent. */
  ranks: Array<number | null>;
}

export function reciprocalRankFusion<T>(lists: readonly T[][], keyOf: (item: T) => string, opts: { k?: number; limit?: number } = {}): Fused<T>[] {
  const k = opts.k ?? RRF_K;
  const byKey = new Map<string, Fused<T>>();
  lists.forEach((list, li) => {
    list.forEach((item, i) => {
      const key = keyOf(item);
      let f = byKey.get(key);
      if (!f) {
        f = { item, score: 0, ranks: lists.map(() => null) };
        byKey.set(key, f);
      }
      if (f.ranks[li] !== null) return; // a duplicate inside one list counts once, at its best rank
      f.ranks[li] = i + 1;
      f.score += 1 / (k + i + 1);
    });
  });
  const fused = [...byKey.values()].sort((a, b) => b.score - a.score || bestRank(a) - bestRank(b));
  return opts.limit === undefined ? fused : fused.slice(0, opts.limit);
}

function bestRank(f: Fused<unknown>): number {
  return Math.min(...f.ranks.map((r) => r ?? Number.POSITIVE_INFINITY));
}
