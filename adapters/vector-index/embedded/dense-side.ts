import type { DatabaseSync } from 'node:sqlite';
import type { SearchFilter } from '../../../ports/vector-index.ts';
import { DenseMirror, type MirrorRow } from './dense-mirror.ts';
import { currentSeq, type Statements } from './index-database.ts';
import { cosine, fromBlob } from './vectors.ts';

/**
 * The dense side of search: an exact scan over int8-quantised copies of the vectors held in memory
 * (dense-mirror.ts), whose survivors are rescored with the exact float32 cosine read from the file.
 *
 * The mirror is built on the first search (write-only processes never pay for it). This
 * connection's own writes are applied to it after they commit; other connections' writes are
 * found through `PRAGMA data_version` and patched in from the `vector_changes` log, or, when the
 * log no longer reaches back far enough, the mirror is rebuilt.
 */
export class DenseSide {
  private readonly dimension: number;
  private mirror: DenseMirror | null = null;
  /** Highest `vector_changes.seq` reflected in the mirror. */
  private appliedSeq = 0;
  /** The mirror missed a change (someone else wrote between our reads and our write). */
  private mirrorStale = false;
  private lastDataVersion = -1;

  constructor(dimension: number) {
    this.dimension = dimension;
  }

  /** Applies a committed write to the in-memory mirror, or marks it stale if it missed another writer's changes. */
  afterWrite(seqBefore: number, seqAfter: number, changes: Array<{ upserts: MirrorRow[]; deletes: number[] }>): void {
    const mirror = this.mirror;
    if (!mirror || seqAfter === seqBefore) return;
    if (this.mirrorStale || this.appliedSeq !== seqBefore) {
      this.mirrorStale = true;
      return;
    }
    try {
      for (const c of changes) {
        for (const r of c.upserts) mirror.upsert(r);
        for (const pk of c.deletes) mirror.remove(pk);
      }
      this.appliedSeq = seqAfter;
    } catch {
      // the write is committed; a mirror that could not follow (e.g. out of memory) is rebuilt on the next search
      this.mirror = null;
    }
  }

  /** Top `n` chunk keys by exact cosine, among those passing the filter. */
  search(db: DatabaseSync, s: Statements, vector: Float32Array, n: number, filter: SearchFilter | undefined): number[] {
    const mirror = this.sync(db, s);
    // int8 picks who reaches the exact round; a generous margin absorbs its rounding
    const survivors = mirror.search(vector, n + Math.max(n, 32), filter);
    const exact: Array<{ pk: number; score: number }> = [];
    for (const h of survivors) {
      const row = s.getVector.get(h.pk) as { vector: Uint8Array } | undefined;
      if (row) exact.push({ pk: h.pk, score: cosine(vector, fromBlob(row.vector)) });
    }
    exact.sort((a, b) => b.score - a.score || a.pk - b.pk);
    return exact.slice(0, n).map((e) => e.pk);
  }

  /** Drops the mirror (the index is closing). */
  release(): void {
    this.mirror = null;
  }

  /** Builds the mirror (first search) or brings it up to date with other connections' writes. */
  private sync(db: DatabaseSync, s: Statements): DenseMirror {
    const dataVersion = (s.dataVersion.get() as { data_version: number }).data_version;
    if (this.mirror && !this.mirrorStale && dataVersion === this.lastDataVersion) return this.mirror;
    db.exec('BEGIN'); // one read snapshot for the log position and the rows
    try {
      const head = currentSeq(s);
      let mirror = this.mirror;
      if (mirror && head !== this.appliedSeq) {
        const oldest = (s.minSeq.get() as { seq: number | null }).seq;
        if (oldest === null || oldest > this.appliedSeq + 1) mirror = null; // the log no longer reaches back to us
      }
      if (!mirror) {
        mirror = new DenseMirror(this.dimension);
        for (const r of s.mirrorAll.iterate() as Iterable<{ pk: number; doc_id: string; category: string; author: string; vector: Uint8Array }>) {
          mirror.upsert({ pk: r.pk, docId: r.doc_id, category: r.category, author: r.author, vector: fromBlob(r.vector) });
        }
      } else if (head !== this.appliedSeq) {
        for (const { pk } of s.changedSince.all(this.appliedSeq) as Array<{ pk: number }>) {
          const r = s.mirrorRow.get(pk) as { doc_id: string; category: string; author: string; vector: Uint8Array } | undefined;
          if (r) mirror.upsert({ pk, docId: r.doc_id, category: r.category, author: r.author, vector: fromBlob(r.vector) });
          else mirror.remove(pk);
        }
      }
      this.mirror = mirror;
      this.appliedSeq = head;
      this.mirrorStale = false;
      this.lastDataVersion = dataVersion;
      return mirror;
    } finally {
      db.exec('COMMIT');
    }
  }
}
