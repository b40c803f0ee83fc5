import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { fuseDenseSparse } from '../../../common/rrf.ts';
import { TributaryError } from '../../../ports/errors.ts';
import type {
  ApplyOutcome, ChunkPayload, IndexOperation, ChunkPoint, SearchFilter, SearchHit, SearchRequest, VectorIndex, VectorIndexCapabilities,
} from '../../../ports/vector-index.ts';
import { MAX_POINTS_PER_DOCUMENT, validateIndexOperations } from '../index-operations.ts';
import { transaction } from '../../sqlite/open-database.ts';
import { DenseSide } from './dense-side.ts';
import { checkFilter, filterCanMatch, filterSql } from './filter-sql.ts';
import { currentSeq, openIndexDatabase, prepareStatements, type Statements } from './index-database.ts';
import { indexError, rejected } from './index-errors.ts';
import { KeywordSide } from './keyword-side.ts';
import { CHUNK_COLUMNS, CHUNK_FROM, toPayload, type ChunkRow } from './schema.ts';
import { deleteDocument, replaceDocument, type WriteResult } from './versioned-writes.ts';

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
 *
 * Where things are: the file and its statements in index-database.ts (tables in schema.ts), the
 * versioned writes in versioned-writes.ts, the dense side in dense-side.ts, the keyword side in
 * keyword-side.ts, error mapping in index-errors.ts. This file validates requests and ties them together.
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

/** Change-log entries kept for readers in other connections; one that falls further behind rebuilds. */
const CHANGE_LOG_KEEP = 200_000;
/** Rows per page when scanning. */
const SCAN_PAGE = 512;
const MAX_K = 10_000;

export class EmbeddedVectorIndex implements VectorIndex {
  readonly kind = 'embedded';
  readonly capabilities: VectorIndexCapabilities;
  private readonly opts: Required<Omit<EmbeddedVectorIndexOptions, 'keywordPruning'>>;
  private db: DatabaseSync | null = null;
  private s: Statements | null = null;
  private closed = false;
  private readonly dynamic = new Map<string, StatementSync>();
  private readonly dense: DenseSide;
  private readonly keyword: KeywordSide;

  constructor(options: EmbeddedVectorIndexOptions) {
    this.opts = {
      path: options.path,
      dimension: options.dimension,
      synchronous: options.synchronous,
      cacheMiB: options.cacheMiB ?? 32,
      changeLogKeep: options.changeLogKeep ?? CHANGE_LOG_KEEP,
    };
    this.capabilities = { dimension: options.dimension, sparse: true, maxBatchPoints: MAX_POINTS_PER_DOCUMENT, sideRanks: true };
    this.dense = new DenseSide(options.dimension);
    this.keyword = new KeywordSide(() => this.stmts(), (key, sql) => this.statement(key, sql), options.keywordPruning);
  }

  async init(): Promise<void> {
    if (this.closed) throw new TributaryError('INDEX_UNAVAILABLE', 'embedded index: init() after close()', { retryable: false });
    if (this.db) return;
    let db: DatabaseSync | null = null;
    try {
      db = openIndexDatabase(this.opts.path, { synchronous: this.opts.synchronous, cacheMiB: this.opts.cacheMiB, dimension: this.opts.dimension });
      this.s = prepareStatements(db);
      this.db = db;
    } catch (e) {
      try { db?.close(); } catch { /* already failing */ }
      throw indexError(e, 'init');
    }
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
    const s = this.stmts();
    const keep = this.opts.changeLogKeep;
    const outcomes: ApplyOutcome[] = [];
    const changes: WriteResult[] = [];
    let seqBefore = 0;
    let seqAfter = 0;
    try {
      transaction(db, () => {
        outcomes.length = 0;
        changes.length = 0;
        seqBefore = currentSeq(s);
        for (const op of ops) {
          const r = op.kind === 'replace' ? replaceDocument(s, keep, op.docId, op.version, op.points) : deleteDocument(s, keep, op.docId, op.version);
          outcomes.push(r.outcome);
          if (r.outcome === 'applied') changes.push(r);
        }
        seqAfter = currentSeq(s);
      });
    } catch (e) {
      const first = ops[0]!;
      throw indexError(e, ops.length === 1 ? `${first.kind} of document ${first.docId}` : `batch of ${ops.length} index operations`);
    }
    this.dense.afterWrite(seqBefore, seqAfter, changes);
    return outcomes;
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
      const dense = vector !== undefined ? this.dense.search(this.conn(), this.stmts(), vector, side, filter) : [];
      const sparse = text !== undefined ? this.keyword.search(text, side, filter) : [];
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
    this.dense.release();
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
