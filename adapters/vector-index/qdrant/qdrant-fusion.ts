import type { Schemas } from '@qdrant/js-client-rest';
import type { ChunkPayload, SearchHit } from '../../../ports/vector-index.ts';
import { fuseDenseSparse } from '../../../common/rrf.ts';
import { toPayload } from './qdrant-payload.ts';

/** Fuses Qdrant's dense and sparse result lists with reciprocal rank fusion (common/rrf.ts), keeping each hit's rank on each side. */
export function fuseRanked(lists: Array<{ side: 'dense' | 'sparse'; points: Schemas['ScoredPoint'][] }>, k: number, rrfK: number): SearchHit[] {
  const payloads = new Map<string, ChunkPayload>();
  const ids = { dense: [] as string[], sparse: [] as string[] };
  for (const { side, points } of lists) {
    for (const p of points) {
      const id = String(p.id);
      if (!payloads.has(id)) payloads.set(id, toPayload(p.payload));
      ids[side].push(id);
    }
  }
  return fuseDenseSparse(ids.dense, ids.sparse, { k: rrfK, limit: k })
    .map((e) => ({ id: e.id, score: e.score, payload: payloads.get(e.id)!, denseRank: e.denseRank, sparseRank: e.sparseRank }));
}
