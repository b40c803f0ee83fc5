import type { ApplyOutcome, ChunkPoint } from '../../../ports/vector-index.ts';
import type { MirrorRow } from './dense-mirror.ts';
import { currentSeq, type Statements } from './index-database.ts';
import { toBlob } from './vectors.ts';

/**
 * The writes of the embedded index, inside the caller's transaction. Each document carries a version
 * fence (`doc_versions`): a replace or delete older than the fence is `stale` and changes nothing,
 * which makes redelivered and reordered operations harmless. Every touched chunk key goes to the
 * `vector_changes` log (pruned to the newest `changeLogKeep` entries), from which readers in other
 * connections patch their in-memory dense mirror.
 */

/** What one operation did, and what the dense mirror must apply after the commit. */
export interface WriteResult {
  outcome: ApplyOutcome;
  upserts: MirrorRow[];
  deletes: number[];
}

/** The log is pruned about once per this many entries. */
const PRUNE_EVERY = 256;

/** Replaces the chunks of `docId` with `points` (unless the fence is newer); chunks no longer present are deleted. */
export function replaceDocument(s: Statements, changeLogKeep: number, docId: string, version: number, points: ChunkPoint[]): WriteResult {
  const cur = s.getVersion.get(docId) as { version: number | null; deleted: number } | undefined;
  if (cur && cur.version !== null && cur.version > version) return { outcome: 'stale', upserts: [], deletes: [] };
  const upserts: MirrorRow[] = [];
  let added = 0;
  const touched: number[] = [];
  // a document the index never held, or held and deleted, has no chunk rows: nothing to look up or drop
  const holdsChunks = cur !== undefined && cur.deleted === 0;
  for (const p of points) {
    const pl = p.payload;
    const existing = holdsChunks ? s.findChunk.get(p.id) as { pk: number; text: string } | undefined : undefined;
    let pk: number;
    if (existing) {
      pk = existing.pk;
      s.updateChunk.run(docId, version, pl.chunk_index, pl.category, pl.author, pk);
      // with an index text (the chunk in its context) the context may have changed while the chunk did not
      if (existing.text !== pl.text || p.indexText !== undefined) {
        s.deleteFts.run(pk);
        s.insertFts.run(pk, p.indexText ?? pl.text);
      }
    } else {
      pk = Number(s.insertChunk.run(p.id, docId, version, pl.chunk_index, pl.category, pl.author).lastInsertRowid);
      s.insertFts.run(pk, p.indexText ?? pl.text);
      added++;
    }
    s.putPayload.run(pk, pl.content_hash, pl.source_ts, pl.embed_model, pl.title ?? null, pl.url ?? null, pl.text);
    s.putVector.run(pk, toBlob(p.vector));
    touched.push(pk);
    upserts.push({ pk, docId, category: pl.category, author: pl.author, vector: p.vector });
  }
  const deleted = holdsChunks ? (s.deleteOthers.all(docId, JSON.stringify(points.map((p) => p.id))) as Array<{ pk: number }>).map((r) => r.pk) : [];
  for (const pk of deleted) {
    deleteRest(s, pk);
    touched.push(pk);
  }
  if (added !== deleted.length) s.bumpCount.run(added - deleted.length);
  logAndPrune(s, changeLogKeep, touched);
  s.putVersion.run(docId, version, 0, Date.now());
  return { outcome: 'applied', upserts, deletes: deleted };
}

/** Deletes every chunk of `docId` (unless the fence is newer; `version` null = unconditionally). */
export function deleteDocument(s: Statements, changeLogKeep: number, docId: string, version: number | null): WriteResult {
  const cur = s.getVersion.get(docId) as { version: number | null; deleted: number } | undefined;
  if (version !== null && cur && cur.version !== null && cur.version > version) return { outcome: 'stale', upserts: [], deletes: [] };
  const deleted = (s.deleteAll.all(docId) as Array<{ pk: number }>).map((r) => r.pk);
  for (const pk of deleted) deleteRest(s, pk);
  if (deleted.length > 0) s.bumpCount.run(-deleted.length);
  logAndPrune(s, changeLogKeep, deleted);
  // an unconditional delete never lowers the fence: it keeps the newest version seen so far
  const fence = version === null ? (cur?.version ?? null) : Math.max(version, cur?.version ?? version);
  s.putVersion.run(docId, fence, 1, Date.now());
  return { outcome: 'applied', upserts: [], deletes: deleted };
}

function logAndPrune(s: Statements, keep: number, pks: number[]): void {
  for (const pk of pks) s.logChange.run(pk);
  const seq = currentSeq(s);
  if (seq > keep && Math.floor(seq / PRUNE_EVERY) !== Math.floor((seq - pks.length) / PRUNE_EVERY)) s.pruneLog.run(seq - keep);
}

/** Deletes what hangs off a deleted `chunks` row. */
function deleteRest(s: Statements, pk: number): void {
  s.deletePayload.run(pk);
  s.deleteVector.run(pk);
  s.deleteFts.run(pk);
}
