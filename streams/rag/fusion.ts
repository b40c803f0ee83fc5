import { fuseRanks } from '../../common/rrf.ts';

/**
 * Reciprocal rank fusion of the result lists of the query variants (common/rrf.ts: score(d) =
 * Σ 1 / (k + rank_i(d)), rank from 1). Items are matched by `keyOf`; each fused entry carries the
 * item as it first appeared. Ties after score and best rank keep the order items first appeared in.
 */

export interface Fused<T> {
  item: T;
  score: number;
  /** Rank (from 1) in each input list; null where the item was absent. */
  ranks: Array<number | null>;
}

export function reciprocalRankFusion<T>(lists: readonly T[][], keyOf: (item: T) => string, opts: { k?: number; limit?: number } = {}): Fused<T>[] {
  const items = new Map<string, T>();
  const keyLists = lists.map((list) => list.map((item) => {
    const key = keyOf(item);
    if (!items.has(key)) items.set(key, item);
    return key;
  }));
  return fuseRanks(keyLists, { ...opts, ties: 'first-seen' }).map((e) => ({ item: items.get(e.id)!, score: e.score, ranks: e.ranks }));
}
