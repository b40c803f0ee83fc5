import type { Schemas } from '@qdrant/js-client-rest';
import type { ChunkPayload, SearchHit } from '../../../ports/vector-index.ts';
import { toPayload } from './qdrant-payload.ts';

/** Fuses Qdrant's dense and sparse result lists with reciprocal rank fusion, keeping each hit's rank on each side. */
export function fuseRanked(lists: Array<{ side: 'dense' | 'sparse'; points: Schemas['ScoredPoint'][] }>, k: number, rrfK: number): SearchHit[] {
  const fused = new Map<string, { score: number; denseRank: number | null; sparseRank: number | null; payload: ChunkPayload }>();
  for (const { side, points } of lists) {
    points.forEach((p, i) => {
      const id = String(p.id);
      const e = fused.get(id) ?? { score: 0, denseRank: null, sparseRank: null, payload: toPayload(p.payload) };
      e.score += 1 / (rrfK + i + 1);
      if (side === 'dense') e.denseRank = i + 1; else e.sparseRank = i + 1;
      fused.set(id, e);
    });
  }
  const best = (e: { denseRank: number | null; sparseRank: number | null }): number => Math.min(e.denseRank ?? Infinity, e.sparseRank ?? Infinity);
  return [...fused]
    .sort(([ia, a], [ib, b]) => b.score - a.score || best(a) - best(b) || (ia < ib ? -1 : ia > ib ? 1 : 0))
    .slice(0, k)
    .map(([id, e]) => ({ id, score: e.score, payload: e.payload, denseRank: e.denseRank, sparseRank: e.sparseRank }));
}
