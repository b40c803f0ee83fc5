import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { fuseDenseSparse } from '../../../common/rrf.ts';
import { TributaryError, findTributaryError } from '../../../ports/errors.ts';
import type {
  ApplyOutcome, ChunkPayload, IndexOperation, ChunkPoint, SearchFilter, SearchHit, SearchRequest, VectorIndex, VectorIndexCapabilities,
} from '../../../ports/vector-index.ts';
import { MAX_POINTS_PER_DOCUMENT, validateIndexOperations } from '../index-operations.ts';
import { transaction } from '../../sqlite/open-database.ts';
import { DenseMirror, type MirrorRow } from './dense-mirror.ts';
import { checkFilter, filterCanMatch, filterSql } from './filter-sql.ts';
import { matchExpression, queryTerms, quoteTerm } from './fts-query.ts';
import { CHUNK_COLUMNS, CHUNK_FROM, FORMAT_VERSION, SCHEMA, type ChunkRow } from './schema.ts';
import { TermPruning } from './term-pruning.ts';

/**
 * The embedded vector index: one SQLite file holding chunk payloads, float32 vectors, an FTS5
 * index for BM25 and the per-document version fence (see schema.ts).
 *
 * Dense search is an exact brute-force scan over int8-quantised copies of the vectors, held in
 * memory and scored with a WebAssembly SIMD kernel (dense-mirror.ts), then rescored with the exact
 * float32 cosine. sqlite-vec's vec0 was measured and rejected for this role (100k × 256 floats:
 * vec0 float KNN 30–40 ms per query, int8 ~20 ms, bit ~5 ms at k=40 but 40–70 ms at the k needed to
 * rescore, and 90 µs per point lookup), while the int8 scan takes ~2 ms at 100k and applies filters
 * before ranking. The in-memory copy is built on the first search (write-only processes never pay
 * for it) and kept current from the `vector_changes` log when other connections write.
 *
 * Keyword search is FTS5 BM25 over a sanitised OR query (fts-query.ts) with very common words
 * pruned on large indexes (term-pruning.ts). Both sides are filtered, then fused with reciprocal
 * rank fusion (common/rrf.ts, k = 60).
 *
 * Every write is one IMMEDIATE transaction; WAL with synchronous=FULL (or NORMAL) means an
 * acknowledged write survives kill -9 (FULL: also power loss).
 */

export interface EmbeddedVectorIndexOptions {
  /** Path of the SQLite file (created with its directory on `init`). */
  path: string;
  /** Vector dimension; a file created with another dimension is refused at `init`. */
  dimension: number;
  /** full: fsync at every commit (survives power loss); normal: survives process crashes. */
  synchronous: 'full' | 'normal';
  /** SQLite page cache of this connection, in MiB. Default 32. */
  cacheMiB?: number;
  /** Keyword-side cost bounds (see term-pruning.ts); defaults suit 10k–1M chunks. */
  keywordPruning?: { minChunks?: number; postingBudget?: number };
  /** Change-log entries kept for readers in other connections (default 200,000). */
  changeLogKeep?: number;
}

/** Largest document (in chunk points) one replace may carry. */
/** Change-log entries kept for readers in other connections; one that falls further behind rebuilds. */
const CHANGE_LOG_KEEP = 200_000;
/** The log is pruned about once per this many entries. */
const PRUNE_EVERY = 256;
/** Rows per page when scanning. */
const SCAN_PAGE = 512;
const MAX_K = 10_000;

/** SQLite primary result codes that mean "try again later". */
const RETRYABLE_SQLITE = new Set([5 /* BUSY */, 6 /* LOCKED */, 10 /* IOERR */, 13 /* FULL */, 14 /* CANTOPEN */, 15 /* PROTOCOL */]);
/** … and those that mean the file itself is unusable. */
const BROKEN_SQLITE = new Set([11 /* CORRUPT */, 26 /* NOTADB */]);

/** Page size of a new index file: 8 KiB pages hold 7 vectors of 256 floats (4 KiB pages waste a quarter). */
const PAGE_SIZE = 8192;

/**
 * Like adapters/sqlite/open-database.ts (WAL, busy timeout so other processes can read
 * concurrently), plus a page size, which must be set before the file switches to WAL.
 */
function openIndexDatabase(path: string, synchronous: 'full' | 'normal', cacheMiB: number): DatabaseSync {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const db = new DatabaseSync(path);
  try {
    db.exec('PRAGMA busy_timeout = 10000');
    db.exec(`PRAGMA page_size = ${PAGE_SIZE}`);
    db.exec('PRAGMA journal_mode = WAL');
    db.exec(`PRAGMA synchronous = ${synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
    db.exec(`PRAGMA cache_size = ${-Math.round(cacheMiB * 1024)}`);
    return db;
  } catch (e) {
    db.close();
    throw e;
  }
}

function indexError(e: unknown, what: string): TributaryError {
  const found = findTributaryError(e);
  if (found) return found;
  const errcode = (e as { errcode?: unknown } | null)?.errcode;
  const message = `embedded index: ${what} failed: ${e instanceof Error ? e.message : String(e)}`;
  if (typeof errcode === 'number') {
    const primary = errcode & 0xff;
    if (RETRYABLE_SQLITE.has(primary)) return new TributaryError('INDEX_UNAVAILABLE', message, { cause: e });
    if (BROKEN_SQLITE.has(primary)) return new TributaryError('INDEX_UNAVAILABLE', message, { cause: e, retryable: false });
    return new TributaryError('INDEX_REJECTED', message, { cause: e });
  }
  return new TributaryError('INTERNAL', message, { cause: e });
}

function rejected(message: string): TributaryError {
  return new TributaryError('INDEX_REJECTED', `embedded index: ${message}`);
}

function toBlob(v: Float32Array): Uint8Array {
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

function fromBlob(b: Uint8Array): Float32Array {
  if (b.byteOffset % 4 === 0) return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
  return new Float32Array(b.slice().buffer);
}

function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0; let na = 0; let nb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!; const y = b[i]!;
    dot += x * y; na += x * x; nb += y * y;
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}

function toPayload(r: ChunkRow): ChunkPayload {
  return {
    doc_id: r.doc_id,
    doc_version: r.doc_version,
    chunk_index: r.chunk_index,
    content_hash: r.content_hash,
    category: r.category,
    author: r.author,
    source_ts: r.source_ts,
    embed_model: r.embed_model,
    title: r.title,
    url: r.url,
    text: r.text,
  };
}

interface Statements {
  getVersion: StatementSync;
  putVersion: StatementSync;
  findChunk: StatementSync;
  insertChunk: StatementSync;
  updateChunk: StatementSync;
  putPayload: StatementSync;
  deletePayload: StatementSync;
  putVector: StatementSync;
  deleteVector: StatementSync;
  insertFts: StatementSync;
  deleteFts: StatementSync;
  deleteOthers: StatementSync;
  deleteAll: StatementSync;
  logChange: StatementSync;
  maxSeq: StatementSync;
  minSeq: StatementSync;
  pruneLog: StatementSync;
  changedSince: StatementSync;
  bumpCount: StatementSync;
  chunkCount: StatementSync;
  getVector: StatementSync;
  getChunk: StatementSync;
  mirrorRow: StatementSync;
  mirrorAll: StatementSync;
  dataVersion: StatementSync;
  dfProbe: StatementSync;
}

export class EmbeddedVectorIndex implements VectorIndex {
  readonly kind = 'embedded';
  readonly capabilities: VectorIndexCapabilities;
  private readonly opts: Required<Omit<EmbeddedVectorIndexOptions, 'keywordPruning'>>;
  private db: DatabaseSync | null = null;
  private s: Statements | null = null;
  private closed = false;
  private readonly dynamic = new Map<string, StatementSync>();
  private mirror: DenseMirror | null = null;
  /** Highest `vector_changes.seq` reflected in the mirror. */
  private appliedSeq = 0;
  /** The mirror missed a change (someone else wrote between our reads and our write). */
  private mirrorStale = false;
  private lastDataVersion = -1;
  private readonly pruning: TermPruning;

  constructor(options: EmbeddedVectorIndexOptions) {
    this.opts = {
      path: options.path,
      dimension: options.dimension,
      synchronous: options.synchronous,
      cacheMiB: options.cacheMiB ?? 32,
      changeLogKeep: options.changeLogKeep ?? CHANGE_LOG_KEEP,
    };
    this.capabilities = { dimension: options.dimension, sparse: true, maxBatchPoints: MAX_POINTS_PER_DOCUMENT };
    this.pruning = new TermPruning({
      probe: (expr, cap) => (this.stmts().dfProbe.get(expr, cap) as { n: number }).n,
      ...options.keywordPruning,
    });
  }

  async init(): Promise<void> {
    if (this.closed) throw new TributaryError('INDEX_UNAVAILABLE', 'embedded index: init() after close()', { retryable: false });
    if (this.db) return;
    let db: DatabaseSync | null = null;
    try {
      db = openIndexDatabase(this.opts.path, this.opts.synchronous, this.opts.cacheMiB);
      const d = db;
      transaction(d, () => {
        d.exec(SCHEMA);
        const meta = new Map((d.prepare('SELECT key, value FROM index_meta').all() as Array<{ key: string; value: string }>).map((r) => [r.key, r.value]));
        const format = meta.get('format');
        if (format !== undefined && format !== FORMAT_VERSION) {
          throw rejected(`${this.opts.path} has format ${format}, this build reads format ${FORMAT_VERSION}; rebuild the index (delete the file and replay the cleaned topic)`);
        }
        const dim = meta.get('dimension');
        if (dim !== undefined && Number(dim) !== this.opts.dimension) {
          throw rejected(`${this.opts.path} holds ${dim}-dimension vectors but the embedder produces ${this.opts.dimension}; use another data directory or delete the index file to rebuild it`);
        }
        d.prepare('INSERT OR IGNORE INTO index_meta (key, value) VALUES (?, ?), (?, ?)').run('format', FORMAT_VERSION, 'dimension', String(this.opts.dimension));
      });
      this.s = this.prepare(db);
      this.db = db;
    } catch (e) {
      try { db?.close(); } catch { /* already failing */ }
      throw indexError(e, 'init');
    }
  }

  private prepare(db: DatabaseSync): Statements {
    return {
      getVersion: db.prepare('SELECT version, deleted FROM doc_versions WHERE doc_id = ?'),
      putVersion: db.prepare(`INSERT INTO doc_versions (doc_id, version, deleted, updated_at) VALUES (?, ?, ?, ?)
        ON CONFLICT (doc_id) DO UPDATE SET version = excluded.version, deleted = excluded.deleted, updated_at = excluded.updated_at`),
      findChunk: db.prepare('SELECT c.pk, p.text FROM chunks c LEFT JOIN chunk_payloads p ON p.pk = c.pk WHERE c.id = ?'),
      insertChunk: db.prepare('INSERT INTO chunks (id, doc_id, doc_version, chunk_index, category, author) VALUES (?, ?, ?, ?, ?, ?) RETURNING pk'),
      updateChunk: db.prepare('UPDATE chunks SET doc_id = ?, doc_version = ?, chunk_index = ?, category = ?, author = ? WHERE pk = ?'),
      putPayload: db.prepare(`INSERT OR REPLACE INTO chunk_payloads (pk, content_hash, source_ts, embed_model, title, url, text) VALUES (?, ?, ?, ?, ?, ?, ?)`),
      deletePayload: db.prepare('DELETE FROM chunk_payloads WHERE pk = ?'),
      putVector: db.prepare('INSERT OR REPLACE INTO chunk_vectors (pk, vector) VALUES (?, ?)'),
      deleteVector: db.prepare('DELETE FROM chunk_vectors WHERE pk = ?'),
      insertFts: db.prepare('INSERT INTO chunk_fts (rowid, text) VALUES (?, ?)'),
      deleteFts: db.prepare('DELETE FROM chunk_fts WHERE rowid = ?'),
      deleteOthers: db.prepare('DELETE FROM chunks WHERE doc_id = ? AND id NOT IN (SELECT value FROM json_each(?)) RETURNING pk'),
      deleteAll: db.prepare('DELETE FROM chunks WHERE doc_id = ? RETURNING pk'),
      logChange: db.prepare('INSERT INTO vector_changes (pk) VALUES (?)'),
      maxSeq: db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'vector_changes'"),
      minSeq: db.prepare('SELECT min(seq) AS seq FROM vector_changes'),
      pruneLog: db.prepare('DELETE FROM vector_changes WHERE seq <= ?'),
      changedSince: db.prepare('SELECT DISTINCT pk FROM vector_changes WHERE seq > ?'),
      bumpCount: db.prepare('UPDATE index_stats SET chunks = chunks + ? WHERE id = 1'),
      chunkCount: db.prepare('SELECT chunks FROM index_stats WHERE id = 1'),
      getVector: db.prepare('SELECT vector FROM chunk_vectors WHERE pk = ?'),
      getChunk: db.prepare(`SELECT ${CHUNK_COLUMNS} FROM ${CHUNK_FROM} WHERE c.pk = ?`),
      mirrorRow: db.prepare('SELECT c.doc_id, c.category, c.author, v.vector FROM chunks c JOIN chunk_vectors v ON v.pk = c.pk WHERE c.pk = ?'),
      mirrorAll: db.prepare('SELECT c.pk, c.doc_id, c.category, c.author, v.vector FROM chunks c JOIN chunk_vectors v ON v.pk = c.pk'),
      dataVersion: db.prepare('PRAGMA data_version'),
      dfProbe: db.prepare('SELECT count(*) AS n FROM (SELECT 1 FROM chunk_fts WHERE chunk_fts MATCH ? LIMIT ?)'),
    };
  }

  private stmts(): Statements {
    if (this.s) return this.s;
    throw new TributaryError('INDEX_UNAVAILABLE', this.closed ? 'embedded index is closed' : 'embedded index: call init() first', { retryable: false });
  }

  private conn(): DatabaseSync {
    this.stmts();
    return this.db!;
  }

  private statement(key: string, sql: () => string): StatementSync {
    let st = this.dynamic.get(key);
    if (!st) {
      st = this.conn().prepare(sql());
      this.dynamic.set(key, st);
    }
    return st;
  }

  // ---- writes ----------------------------------------------------------------------------------

  private currentSeq(): number {
    return (this.stmts().maxSeq.get() as { seq: number } | undefined)?.seq ?? 0;
  }

  /** Applies a committed write to the in-memory mirror, or marks it stale if it missed another writer's changes. */
  private afterWrite(seqBefore: number, seqAfter: number, changes: Array<{ upserts: MirrorRow[]; deletes: number[] }>): void {
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

  private logAndPrune(pks: number[]): void {
    const s = this.stmts();
    for (const pk of pks) s.logChange.run(pk);
    const seq = this.currentSeq();
    const keep = this.opts.changeLogKeep;
    if (seq > keep && Math.floor(seq / PRUNE_EVERY) !== Math.floor((seq - pks.length) / PRUNE_EVERY)) s.pruneLog.run(seq - keep);
  }

  /** Deletes what hangs off a deleted `chunks` row. */
  private deleteRest(pk: number): void {
    const s = this.stmts();
    s.deletePayload.run(pk);
    s.deleteVector.run(pk);
    s.deleteFts.run(pk);
  }

  async replaceDocument(docId: string, version: number, points: ChunkPoint[]): Promise<ApplyOutcome> {
    const [outcome] = await this.applyBatch([{ kind: 'replace', docId, version, points }]);
    return outcome!;
  }

  async deleteDocument(docId: string, version: number | null): Promise<ApplyOutcome> {
    const [outcome] = await this.applyBatch([{ kind: 'delete', docId, version }]);
    return outcome!;
  }

  /** Every operation of the batch in ONE transaction (one fsync), applied in order. */
  async applyBatch(ops: IndexOperation[]): Promise<ApplyOutcome[]> {
    validateIndexOperations(ops, this.opts.dimension, 'embedded index');
    if (ops.length === 0) return [];
    const db = this.conn();
    const outcomes: ApplyOutcome[] = [];
    const changes: Array<{ upserts: MirrorRow[]; deletes: number[] }> = [];
    let seqBefore = 0;
    let seqAfter = 0;
    try {
      transaction(db, () => {
        outcomes.length = 0;
        changes.length = 0;
        seqBefore = this.currentSeq();
        for (const op of ops) {
          const r = op.kind === 'replace' ? this.replaceInTx(op.docId, op.version, op.points) : this.deleteInTx(op.docId, op.version);
          outcomes.push(r.outcome);
          if (r.outcome === 'applied') changes.push(r);
        }
        seqAfter = this.currentSeq();
      });
    } catch (e) {
      const first = ops[0]!;
      throw indexError(e, ops.length === 1 ? `${first.kind} of document ${first.docId}` : `batch of ${ops.length} index operations`);
    }
    this.afterWrite(seqBefore, seqAfter, changes);
    return outcomes;
  }

  private replaceInTx(docId: string, version: number, points: ChunkPoint[]): { outcome: ApplyOutcome; upserts: MirrorRow[]; deletes: number[] } {
    const s = this.stmts();
    const cur = s.getVersion.get(docId) as { version: number | null; deleted: number } | undefined;
    if (cur && cur.version !== null && cur.version > version) return { outcome: 'stale', upserts: [], deletes: [] };
    const upserts: MirrorRow[] = [];
    let added = 0;
    const touched: number[] = [];
    for (const p of points) {
      const pl = p.payload;
      const existing = s.findChunk.get(p.id) as { pk: number; text: string } | undefined;
      let pk: number;
      if (existing) {
        pk = existing.pk;
        s.updateChunk.run(docId, version, pl.chunk_index, pl.category, pl.author, pk);
        if (existing.text !== pl.text) {
          s.deleteFts.run(pk);
          s.insertFts.run(pk, pl.text);
        }
      } else {
        pk = (s.insertChunk.get(p.id, docId, version, pl.chunk_index, pl.category, pl.author) as { pk: number }).pk;
        s.insertFts.run(pk, pl.text);
        added++;
      }
      s.putPayload.run(pk, pl.content_hash, pl.source_ts, pl.embed_model, pl.title ?? null, pl.url ?? null, pl.text);
      s.putVector.run(pk, toBlob(p.vector));
      touched.push(pk);
      upserts.push({ pk, docId, category: pl.category, author: pl.author, vector: p.vector });
    }
    const deleted = (s.deleteOthers.all(docId, JSON.stringify(points.map((p) => p.id))) as Array<{ pk: number }>).map((r) => r.pk);
    for (const pk of deleted) {
      this.deleteRest(pk);
      touched.push(pk);
    }
    if (added !== deleted.length) s.bumpCount.run(added - deleted.length);
    this.logAndPrune(touched);
    s.putVersion.run(docId, version, 0, Date.now());
    return { outcome: 'applied', upserts, deletes: deleted };
  }

  private deleteInTx(docId: string, version: number | null): { outcome: ApplyOutcome; upserts: MirrorRow[]; deletes: number[] } {
    const s = this.stmts();
    const cur = s.getVersion.get(docId) as { version: number | null; deleted: number } | undefined;
    if (version !== null && cur && cur.version !== null && cur.version > version) return { outcome: 'stale', upserts: [], deletes: [] };
    const deleted = (s.deleteAll.all(docId) as Array<{ pk: number }>).map((r) => r.pk);
    for (const pk of deleted) this.deleteRest(pk);
    if (deleted.length > 0) s.bumpCount.run(-deleted.length);
    this.logAndPrune(deleted);
    // an unconditional delete never lowers the fence: it keeps the newest version seen so far
    const fence = version === null ? (cur?.version ?? null) : Math.max(version, cur?.version ?? version);
    s.putVersion.run(docId, fence, 1, Date.now());
    return { outcome: 'applied', upserts: [], deletes: deleted };
  }

  // ---- dense side ------------------------------------------------------------------------------

  /** Builds the mirror (first search) or brings it up to date with other connections' writes. */
  private syncMirror(): DenseMirror {
    const s = this.stmts();
    const db = this.conn();
    const dataVersion = (s.dataVersion.get() as { data_version: number }).data_version;
    if (this.mirror && !this.mirrorStale && dataVersion === this.lastDataVersion) return this.mirror;
    db.exec('BEGIN'); // one read snapshot for the log position and the rows
    try {
      const head = this.currentSeq();
      let mirror = this.mirror;
      if (mirror && head !== this.appliedSeq) {
        const oldest = (s.minSeq.get() as { seq: number | null }).seq;
        if (oldest === null || oldest > this.appliedSeq + 1) mirror = null; // the log no longer reaches back to us
      }
      if (!mirror) {
        mirror = new DenseMirror(this.opts.dimension);
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

  /** Top `n` chunk keys by exact cosine, among those passing the filter. */
  private denseSide(vector: Float32Array, n: number, filter: SearchFilter | undefined): number[] {
    const mirror = this.syncMirror();
    // int8 picks who reaches the exact round; a generous margin absorbs its rounding
    const survivors = mirror.search(vector, n + Math.max(n, 32), filter);
    const s = this.stmts();
    const exact: Array<{ pk: number; score: number }> = [];
    for (const h of survivors) {
      const row = s.getVector.get(h.pk) as { vector: Uint8Array } | undefined;
      if (row) exact.push({ pk: h.pk, score: cosine(vector, fromBlob(row.vector)) });
    }
    exact.sort((a, b) => b.score - a.score || a.pk - b.pk);
    return exact.slice(0, n).map((e) => e.pk);
  }

  // ---- keyword side ----------------------------------------------------------------------------

  private sparseSide(text: string, n: number, filter: SearchFilter | undefined): number[] {
    const terms = queryTerms(text);
    if (terms.length === 0) return [];
    const chunks = (this.stmts().chunkCount.get() as { chunks: number }).chunks;
    const kept = this.pruning.select(terms.map((term) => ({ term, expression: quoteTerm(term) })), chunks);
    const expr = matchExpression(kept);
    if (expr === null) return [];
    const f = filterSql(filter);
    const st = this.statement(`fts:${f.shape}`, () => (f.where === '1'
      ? 'SELECT f.rowid AS pk, bm25(chunk_fts) AS score FROM chunk_fts f WHERE chunk_fts MATCH ? ORDER BY score LIMIT ?'
      : `SELECT f.rowid AS pk, bm25(chunk_fts) AS score FROM chunk_fts f JOIN chunks c ON c.pk = f.rowid
         WHERE chunk_fts MATCH ? AND ${f.where} ORDER BY score LIMIT ?`));
    return (st.all(expr, ...f.params, n) as Array<{ pk: number }>).map((r) => r.pk);
  }

  // ---- search ----------------------------------------------------------------------------------

  async search(req: SearchRequest): Promise<SearchHit[]> {
    const { k, vector, text } = req;
    if (!Number.isInteger(k) || k < 1 || k > MAX_K) throw rejected(`k must be an integer in [1, ${MAX_K}], got ${String(k)}`);
    const candidates = req.candidates ?? 4 * k;
    if (!Number.isInteger(candidates) || candidates < 1 || candidates > MAX_K) throw rejected(`candidates must be an integer in [1, ${MAX_K}], got ${String(candidates)}`);
    if (vector !== undefined) {
      if (!(vector instanceof Float32Array)) throw rejected('vector must be a Float32Array');
      if (vector.length !== this.opts.dimension) throw rejected(`query vector has ${vector.length} dimensions, the index holds ${this.opts.dimension}`);
      for (let i = 0; i < vector.length; i++) if (!Number.isFinite(vector[i]!)) throw rejected(`query vector has a non-finite value at ${i}`);
    }
    if (text !== undefined && typeof text !== 'string') throw rejected('text must be a string');
    let filter: SearchFilter | undefined;
    try {
      filter = checkFilter(req.filter);
    } catch (e) {
      throw rejected((e as Error).message);
    }
    this.stmts();
    if (!filterCanMatch(filter) || (vector === undefined && text === undefined)) return [];

    try {
      const side = Math.max(candidates, k);
      const dense = vector !== undefined ? this.denseSide(vector, side, filter) : [];
      const sparse = text !== undefined ? this.sparseSide(text, side, filter) : [];
      return this.fuse(dense, sparse, k);
    } catch (e) {
      throw indexError(e, 'search');
    }
  }

  /** Fuses the two sides (common/rrf.ts) and reads the payloads of the best `k`. */
  private fuse(dense: number[], sparse: number[], k: number): SearchHit[] {
    const s = this.stmts();
    const hits: SearchHit[] = [];
    for (const e of fuseDenseSparse(dense, sparse)) {
      if (hits.length >= k) break;
      const row = s.getChunk.get(e.id) as ChunkRow | undefined;
      if (!row) continue; // deleted by another connection since the candidate lists were read
      hits.push({ id: row.id, score: e.score, payload: toPayload(row), denseRank: e.denseRank, sparseRank: e.sparseRank });
    }
    return hits;
  }

  // ---- reads -----------------------------------------------------------------------------------

  async count(filter?: SearchFilter): Promise<number> {
    let f: SearchFilter | undefined;
    try {
      f = checkFilter(filter);
    } catch (e) {
      throw rejected((e as Error).message);
    }
    this.stmts();
    const sql = filterSql(f);
    try {
      const st = this.statement(`count:${sql.shape}`, () => `SELECT count(*) AS n FROM chunks c WHERE ${sql.where}`);
      return (st.get(...sql.params) as { n: number }).n;
    } catch (e) {
      throw indexError(e, 'count');
    }
  }

  async *scan(filter?: SearchFilter): AsyncIterable<{ id: string; payload: ChunkPayload }> {
    let f: SearchFilter | undefined;
    try {
      f = checkFilter(filter);
    } catch (e) {
      throw rejected((e as Error).message);
    }
    const sql = filterSql(f);
    let after = 0;
    for (;;) {
      let rows: ChunkRow[];
      try {
        const st = this.statement(`scan:${sql.shape}`, () => `SELECT ${CHUNK_COLUMNS} FROM ${CHUNK_FROM} WHERE c.pk > ? AND ${sql.where} ORDER BY c.pk LIMIT ?`);
        rows = st.all(after, ...sql.params, SCAN_PAGE) as unknown as ChunkRow[];
      } catch (e) {
        throw indexError(e, 'scan');
      }
      for (const r of rows) yield { id: r.id, payload: toPayload(r) };
      if (rows.length < SCAN_PAGE) return;
      after = rows[rows.length - 1]!.pk;
    }
  }

  async documentVersions(docIds: string[]): Promise<Map<string, { version: number | null; deleted: boolean }>> {
    if (!Array.isArray(docIds) || docIds.some((d) => typeof d !== 'string')) throw rejected('docIds must be an array of strings');
    const s = this.stmts();
    const out = new Map<string, { version: number | null; deleted: boolean }>();
    try {
      for (const id of new Set(docIds)) {
        const r = s.getVersion.get(id) as { version: number | null; deleted: number } | undefined;
        if (r) out.set(id, { version: r.version, deleted: r.deleted === 1 });
      }
    } catch (e) {
      throw indexError(e, 'documentVersions');
    }
    return out;
  }

  /** A local file: usable as soon as it is open. */
  async ping(): Promise<void> {
    this.conn();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const db = this.db;
    this.db = null;
    this.s = null;
    this.dynamic.clear();
    this.mirror = null;
    if (db) {
      try {
        db.close();
      } catch (e) {
        throw indexError(e, 'close');
      }
    }
  }
}

/** Builds the embedded index. No I/O happens until `init()`. */
export function createEmbeddedVectorIndex(options: EmbeddedVectorIndexOptions): EmbeddedVectorIndex {
  const problems: string[] = [];
  if (typeof options?.path !== 'string' || options.path === '') problems.push('path must be a non-empty string');
  if (!Number.isInteger(options?.dimension) || options.dimension < 1 || options.dimension > 16_384) problems.push(`dimension must be an integer in [1, 16384], got ${String(options?.dimension)}`);
  if (options?.synchronous !== 'full' && options?.synchronous !== 'normal') problems.push(`synchronous must be "full" or "normal", got ${String(options?.synchronous)}`);
  if (options?.cacheMiB !== undefined && !(options.cacheMiB >= 1 && options.cacheMiB <= 65_536)) problems.push(`cacheMiB must be in [1, 65536], got ${String(options.cacheMiB)}`);
  if (options?.changeLogKeep !== undefined && !(Number.isInteger(options.changeLogKeep) && options.changeLogKeep >= 1)) problems.push(`changeLogKeep must be a positive integer, got ${String(options.changeLogKeep)}`);
  if (problems.length > 0) throw new TributaryError('INVALID_CONFIG', `embedded index: ${problems.join('; ')}`);
  return new EmbeddedVectorIndex(options);
}
