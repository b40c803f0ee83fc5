/**
 * Reciprocal rank fusion (Cormack, Clarke & Büttcher 2009), the one implementation: every ranked
 * list adds `1 / (k + rank)` to each id it holds, rank from 1, k = 60 (also Qdrant's default).
 * An id listed twice in one list counts once, at its first (best) rank.
 *
 * Order of the result, deterministic: higher score first; on equal score, the better best rank
 * (the id ranked higher somewhere); then, with `ties: 'id'` (the default), the smaller id (numbers
 * numerically, strings by UTF-16 code units), or with `ties: 'first-seen'`, the order in which the
 * ids first appear (list by list, in list order).
 *
 * Used by the RAG fusion of query variants (streams/rag/fusion.ts) and by hybrid search, which fuses
 * a dense and a sparse list and reports each hit's rank on each side (`fuseDenseSparse`).
 */

export const RRF_K = 60;

export type RrfId = string | number;

export interface RrfOptions {
  /** The RRF constant; default RRF_K (60). */
  k?: number;
  /** Keep only the first `limit` fused entries. */
  limit?: number;
  /** Last tie-break, after score and best rank; default 'id'. */
  ties?: 'id' | 'first-seen';
}

export interface RrfEntry<Id extends RrfId> {
  id: Id;
  score: number;
  /** Rank (from 1) in each input list, in list order; null where the id is absent. */
  ranks: Array<number | null>;
}

/** Fuses any number of ranked id lists (best first). */
export function fuseRanks<Id extends RrfId>(lists: ReadonlyArray<readonly Id[]>, opts: RrfOptions = {}): RrfEntry<Id>[] {
  const k = opts.k ?? RRF_K;
  const byId = new Map<Id, RrfEntry<Id> & { best: number }>();
  lists.forEach((list, li) => {
    list.forEach((id, i) => {
      let e = byId.get(id);
      if (!e) {
        e = { id, score: 0, ranks: lists.map(() => null), best: Number.POSITIVE_INFINITY };
        byId.set(id, e);
      }
      if (e.ranks[li] !== null) return; // a duplicate inside one list counts once, at its best rank
      e.ranks[li] = i + 1;
      e.score += 1 / (k + i + 1);
      if (i + 1 < e.best) e.best = i + 1;
    });
  });
  const byIdOrder = opts.ties !== 'first-seen';
  const fused = [...byId.values()].sort((a, b) => b.score - a.score || a.best - b.best || (byIdOrder ? compareIds(a.id, b.id) : 0));
  const kept = opts.limit === undefined ? fused : fused.slice(0, opts.limit);
  return kept.map(({ id, score, ranks }) => ({ id, score, ranks }));
}

export interface HybridRank<Id extends RrfId> {
  id: Id;
  score: number;
  /** Rank (from 1) in the dense list; null = not found there. */
  denseRank: number | null;
  /** Rank (from 1) in the sparse (keyword) list; null = not found there. */
  sparseRank: number | null;
}

/** Fuses a dense and a sparse ranked id list (best first), reporting each id's rank on each side. */
export function fuseDenseSparse<Id extends RrfId>(dense: readonly Id[], sparse: readonly Id[], opts: RrfOptions = {}): HybridRank<Id>[] {
  return fuseRanks([dense, sparse], opts).map((e) => ({ id: e.id, score: e.score, denseRank: e.ranks[0] ?? null, sparseRank: e.ranks[1] ?? null }));
}

function compareIds(a: RrfId, b: RrfId): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
