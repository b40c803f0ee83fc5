import { QdrantClient, type Schemas } from '@qdrant/js-client-rest';
import { v5 as uuidv5 } from 'uuid';
import { TributaryError } from '../../../ports/errors.ts';
import type {
  ApplyOutcome, ChunkPayload, ChunkPoint, IndexOperation, SearchFilter, SearchHit, SearchRequest, VectorIndex, VectorIndexCapabilities,
} from '../../../ports/vector-index.ts';
import { MAX_POINTS_PER_DOCUMENT, validateIndexOperations } from '../index-operations.ts';
import { DENSE, SPARSE, ensureCollections } from './qdrant-collections.ts';
import { qdrantError, rejected } from './qdrant-errors.ts';
import { checkFilter, toQdrantFilter, type QdrantFilter } from './qdrant-filter.ts';
import { toPayload } from './qdrant-payload.ts';
import { documentSparseVector, querySparseVector } from './sparse.ts';
import { fuseRanked } from './qdrant-fusion.ts';
import { RRF_K } from '../../../common/rrf.ts';

/**
 * The distributed vector index on Qdrant.
 *
 * - Collection `chunks` (configurable): a named dense vector `dense` (cosine) and a named sparse
 *   vector `sparse` with `modifier: idf`, filled client-side by sparse.ts (BM25's tf part on the
 *   client, idf on the server). Payload indexes on doc_id, category, author, content_hash,
 *   embed_model (keyword) and doc_version (integer), created by init() and never on the hot path.
 * - Collection `<chunks>_doc_versions`: one vector-less point per document (id = UUIDv5 of the
 *   document id) holding the last applied version and a deleted flag: the version fence.
 * - A batch of writes is four requests whatever its size: read the fences of its documents → upsert
 *   every new point (wait) → one batch of deletes, `doc_id == X AND doc_version <= v AND id not in
 *   the new points` per replaced document and `doc_id == X` per deleted one (wait) → write the
 *   fences (wait). Qdrant has no transactions, so a crash between steps leaves extra or old chunks
 *   until the replayed batch (at-least-once delivery) repeats the steps, which converge: the fence is
 *   written last. One document's events are applied in order by one consumer (keys partition the
 *   topic), so the read-then-write fence does not race.
 * - Hybrid search, `fusion: "server"` (the default): one Query API request, prefetch
 *   dense + sparse (each filtered, `candidates` long) fused by Qdrant's `rrf` with the same k as the
 *   embedded index; Qdrant does not say on which side a hit was found, so the hits' side ranks are
 *   null (capabilities.sideRanks = false). `fusion: "client"`: one batch request with both queries,
 *   fused here (common/rrf.ts), each hit reporting its rank on each side. Measured on Qdrant 1.16.3
 *   at 100k chunks (bench/qdrant-bench.ts): server p50/p99 3.2/6.6 ms, client 4.3/7.4 ms, filtered
 *   p99 5.9 vs 10.0 ms, 98.7 % of the top 10 in common (ties at equal fused scores ordered apart).
 *   A one-sided search (no text, or no vector) is one query either way.
 * - A collection that disappears (a Qdrant restarted without its storage) is an outage, not a bad
 *   document: INDEX_UNAVAILABLE, and the next call creates the collections again before it runs.
 */

export interface QdrantVectorIndexOptions {
  url: string;
  apiKey?: string;
  dimension: number;
  /** Chunk collection name. Default "chunks". */
  collection?: string;
  /** Version-fence collection name. Default `<collection>_doc_versions`. */
  versionsCollection?: string;
  /** Per-request timeout in ms. Default 30,000. */
  timeoutMs?: number;
  /** Points per upsert request. Default: as many as fit in ~8 MiB of JSON (512 at most; fewer for large vectors). */
  upsertBatchPoints?: number;
  /** Where dense and keyword results are fused (see above). Default "server". */
  fusion?: 'client' | 'server';
}

const MAX_K = 10_000;
const SCROLL_PAGE = 256;
/** Fixed namespace for version-record point ids: changing it would orphan every record. */
const VERSION_NAMESPACE = '4a0f3c2e-9d1b-5e7a-8c6f-2b3d4e5f6a7b';

type Fence = { version: number | null; deleted: boolean };

export class QdrantVectorIndex implements VectorIndex {
  readonly kind = 'qdrant';
  readonly capabilities: VectorIndexCapabilities;
  private readonly opts: Required<Omit<QdrantVectorIndexOptions, 'apiKey'>> & { apiKey: string | undefined };
  private client: QdrantClient | null = null;
  private closed = false;
  /** Set when a collection was found missing: the next call creates the collections again first. */
  private setupNeeded = false;

  constructor(options: QdrantVectorIndexOptions) {
    const collection = options.collection ?? 'chunks';
    this.opts = {
      url: options.url,
      apiKey: options.apiKey,
      dimension: options.dimension,
      collection,
      versionsCollection: options.versionsCollection ?? `${collection}_doc_versions`,
      timeoutMs: options.timeoutMs ?? 30_000,
      upsertBatchPoints: options.upsertBatchPoints ?? defaultUpsertPoints(options.dimension),
      fusion: options.fusion ?? 'server',
    };
    this.capabilities = { dimension: options.dimension, sparse: true, maxBatchPoints: MAX_POINTS_PER_DOCUMENT, sideRanks: this.opts.fusion === 'client' };
  }

  get collection(): string {
    return this.opts.collection;
  }

  /** The client, after init(); re-creates the collections first if one was found missing. */
  private async api(): Promise<QdrantClient> {
    const client = this.client;
    if (!client) {
      throw new TributaryError('INDEX_UNAVAILABLE', this.closed ? 'qdrant index is closed' : 'qdrant index: call init() first', { retryable: false });
    }
    if (this.setupNeeded) {
      try {
        await ensureCollections(client, this.opts);
      } catch (e) {
        throw qdrantError(e, 'creating the collections again');
      }
      this.setupNeeded = false;
    }
    return client;
  }

  /** Maps a failure; a missing collection marks the collections for re-creation. */
  private fail(e: unknown, what: string): TributaryError {
    const err = qdrantError(e, what);
    if (err.upstreamStatus === 404 && /collection/i.test(err.message)) {
      this.setupNeeded = true;
      return new TributaryError('INDEX_UNAVAILABLE', `${err.message} — the collection is gone (was Qdrant restarted without its storage?); it is created again on the next attempt, and documents indexed before are missing until the store is re-snapshotted`, { cause: e, upstreamStatus: 404 });
    }
    return err;
  }

  async init(): Promise<void> {
    if (this.closed) throw new TributaryError('INDEX_UNAVAILABLE', 'qdrant index: init() after close()', { retryable: false });
    if (this.client) return;
    const client = new QdrantClient({
      url: this.opts.url, apiKey: this.opts.apiKey, timeout: this.opts.timeoutMs, checkCompatibility: false,
      // Qdrant gzips a response of more than a few KB when the client accepts it (fetch always does),
      // and its chunked gzip stream ends in a small segment that waits ~40 ms for a delayed ACK
      // (measured: a 40-candidate query took 44.6 ms at the median with gzip, 2.2 ms without)
      headers: { 'accept-encoding': 'identity' },
    });
    try {
      await ensureCollections(client, this.opts);
    } catch (e) {
      throw qdrantError(e, `init (${this.opts.url}, collection ${this.opts.collection})`);
    }
    if (this.opts.fusion === 'server') await this.checkServerFusion(client);
    this.client = client;
  }

  /** Server-side fusion needs the Query API's parameterised rrf: refused at start-up, not on every search. */
  private async checkServerFusion(client: QdrantClient): Promise<void> {
    const unit = Array.from({ length: this.opts.dimension }, (_, i) => (i === 0 ? 1 : 0));
    try {
      await client.query(this.opts.collection, {
        prefetch: [{ query: unit, using: DENSE, limit: 1 }, { query: { indices: [1], values: [1] }, using: SPARSE, limit: 1 }],
        query: { rrf: { k: RRF_K + 1 } },
        limit: 1,
      });
    } catch (e) {
      const err = qdrantError(e, 'a server-side fusion query');
      if (err.code !== 'INDEX_REJECTED') throw err;
      throw new TributaryError('INVALID_CONFIG', `qdrant index: ${this.opts.url} does not accept the Query API's rrf fusion with a k parameter (${err.message}): upgrade Qdrant (1.16 accepts it), or set TRIBUTARY_QDRANT_FUSION=client`, { cause: e });
    }
  }

  async ping(): Promise<void> {
    const api = await this.api();
    let exists: boolean;
    try {
      exists = (await api.collectionExists(this.opts.collection)).exists;
    } catch (e) {
      throw this.fail(e, `reaching ${this.opts.url}`);
    }
    if (!exists) {
      this.setupNeeded = true;
      throw new TributaryError('INDEX_UNAVAILABLE', `qdrant index: collection ${this.opts.collection} does not exist at ${this.opts.url}; it is created again on the next write`);
    }
  }

  private versionPointId(docId: string): string {
    return uuidv5(docId, VERSION_NAMESPACE);
  }

  private async readFences(api: QdrantClient, docIds: string[]): Promise<Map<string, Fence>> {
    const out = new Map<string, Fence>();
    const unique = [...new Set(docIds)];
    for (let i = 0; i < unique.length; i += 1024) {
      const ids = unique.slice(i, i + 1024).map((d) => this.versionPointId(d));
      for (const rec of await api.retrieve(this.opts.versionsCollection, { ids, with_payload: true, with_vector: false })) {
        const docId = rec.payload?.['doc_id'];
        if (typeof docId !== 'string') continue;
        const v = rec.payload?.['version'];
        out.set(docId, { version: typeof v === 'number' ? v : null, deleted: rec.payload?.['deleted'] === true });
      }
    }
    return out;
  }

  /**
   * Validates every operation first (an invalid batch writes nothing), then applies them: see the
   * class comment. A batch naming one document twice is applied one operation at a time, in order.
   */
  async applyBatch(ops: IndexOperation[]): Promise<ApplyOutcome[]> {
    validateIndexOperations(ops, this.opts.dimension, 'qdrant index');
    if (ops.length === 0) return [];
    if (new Set(ops.map((o) => o.docId)).size < ops.length) {
      const out: ApplyOutcome[] = [];
      for (const op of ops) out.push(...await this.applyDistinct([op]));
      return out;
    }
    return this.applyDistinct(ops);
  }

  private async applyDistinct(ops: IndexOperation[]): Promise<ApplyOutcome[]> {
    const api = await this.api();
    try {
      const fences = await this.readFences(api, ops.map((o) => o.docId));
      const outcomes: ApplyOutcome[] = [];
      const points: ChunkPoint[] = [];
      const deletes: Schemas['UpdateOperation'][] = [];
      const newFences: Array<{ docId: string; version: number | null; deleted: boolean }> = [];
      for (const op of ops) {
        const cur = fences.get(op.docId);
        if (op.kind === 'replace') {
          if (cur && cur.version !== null && cur.version > op.version) { outcomes.push('stale'); continue; }
          points.push(...op.points);
          const filter: QdrantFilter = {
            must: [{ key: 'doc_id', match: { value: op.docId } }, { key: 'doc_version', range: { lte: op.version } }],
            ...(op.points.length > 0 ? { must_not: [{ has_id: op.points.map((p) => p.id) }] } : {}),
          };
          deletes.push({ delete: { filter } });
          newFences.push({ docId: op.docId, version: op.version, deleted: false });
        } else {
          if (op.version !== null && cur && cur.version !== null && cur.version > op.version) { outcomes.push('stale'); continue; }
          deletes.push({ delete: { filter: { must: [{ key: 'doc_id', match: { value: op.docId } }] } } });
          // an unconditional delete never lowers the fence: it keeps the newest version seen so far
          const version = op.version === null ? (cur?.version ?? null) : Math.max(op.version, cur?.version ?? op.version);
          newFences.push({ docId: op.docId, version, deleted: true });
        }
        outcomes.push('applied');
      }
      for (let i = 0; i < points.length; i += this.opts.upsertBatchPoints) {
        await api.upsert(this.opts.collection, { wait: true, points: points.slice(i, i + this.opts.upsertBatchPoints).map(toQdrantPoint) });
      }
      if (deletes.length > 0) await api.batchUpdate(this.opts.collection, { wait: true, operations: deletes });
      if (newFences.length > 0) {
        await api.upsert(this.opts.versionsCollection, {
          wait: true,
          points: newFences.map((f) => ({ id: this.versionPointId(f.docId), vector: {}, payload: { doc_id: f.docId, version: f.version, deleted: f.deleted } })),
        });
      }
      return outcomes;
    } catch (e) {
      throw this.fail(e, ops.length === 1 ? `${ops[0]!.kind} of document ${ops[0]!.docId}` : `a batch of ${ops.length} document writes`);
    }
  }

  async replaceDocument(docId: string, version: number, points: ChunkPoint[]): Promise<ApplyOutcome> {
    const [outcome] = await this.applyBatch([{ kind: 'replace', docId, version, points }]);
    return outcome!;
  }

  async deleteDocument(docId: string, version: number | null): Promise<ApplyOutcome> {
    const [outcome] = await this.applyBatch([{ kind: 'delete', docId, version }]);
    return outcome!;
  }

  async search(req: SearchRequest): Promise<SearchHit[]> {
    const { k, vector, text } = req;
    if (!Number.isInteger(k) || k < 1 || k > MAX_K) throw rejected(`k must be an integer in [1, ${MAX_K}], got ${String(k)}`);
    const candidates = req.candidates ?? 4 * k;
    if (!Number.isInteger(candidates) || candidates < 1 || candidates > MAX_K) throw rejected(`candidates must be an integer in [1, ${MAX_K}], got ${String(candidates)}`);
    if (vector !== undefined && (!(vector instanceof Float32Array) || vector.length !== this.opts.dimension || !vector.every(Number.isFinite))) {
      throw rejected(`query vector must be a finite Float32Array of ${this.opts.dimension} dimensions`);
    }
    if (text !== undefined && typeof text !== 'string') throw rejected('text must be a string');
    const filter = toQdrantFilter(checkFilter(req.filter));
    const api = await this.api();
    if (filter === null) return [];
    const side = Math.max(candidates, k);
    const searches: Array<{ side: 'dense' | 'sparse'; query: Schemas['QueryRequest'] }> = [];
    if (vector !== undefined) searches.push({ side: 'dense', query: { query: Array.from(vector), using: DENSE, filter, limit: side, with_payload: true } });
    const sparse = text !== undefined ? querySparseVector(text) : null;
    if (sparse && sparse.indices.length > 0) searches.push({ side: 'sparse', query: { query: sparse, using: SPARSE, filter, limit: side, with_payload: true } });
    if (searches.length === 0) return [];
    try {
      if (this.opts.fusion === 'server' && searches.length === 2) {
        const res = await api.query(this.opts.collection, {
          prefetch: searches.map((s) => ({ query: s.query.query, using: s.query.using, filter, limit: side })),
          // Qdrant ranks from 0: 1 / (k + rank0) equals 1 / (RRF_K + rank1) with k = RRF_K + 1
          query: { rrf: { k: RRF_K + 1 } },
          limit: k,
          with_payload: true,
        });
        return res.points.map((p) => ({ id: String(p.id), score: p.score, payload: toPayload(p.payload), denseRank: null, sparseRank: null }));
      }
      const responses = await api.queryBatch(this.opts.collection, { searches: searches.map((s) => s.query) });
      const lists = responses.map((r, i) => ({ side: searches[i]!.side, points: r.points }));
      return fuseRanked(lists, k, RRF_K);
    } catch (e) {
      throw this.fail(e, 'search');
    }
  }

  async count(filter?: SearchFilter): Promise<number> {
    const f = toQdrantFilter(checkFilter(filter));
    const api = await this.api();
    if (f === null) return 0;
    try {
      return (await api.count(this.opts.collection, { ...(f ? { filter: f } : {}), exact: true })).count;
    } catch (e) {
      throw this.fail(e, 'count');
    }
  }

  async *scan(filter?: SearchFilter): AsyncIterable<{ id: string; payload: ChunkPayload }> {
    const f = toQdrantFilter(checkFilter(filter));
    if (f === null) return;
    let offset: Schemas['ExtendedPointId'] | null | undefined;
    do {
      let page: Schemas['ScrollResult'];
      try {
        page = await (await this.api()).scroll(this.opts.collection, {
          ...(f ? { filter: f } : {}),
          limit: SCROLL_PAGE,
          with_payload: true,
          with_vector: false,
          ...(offset !== undefined && offset !== null ? { offset } : {}),
        });
      } catch (e) {
        throw this.fail(e, 'scan');
      }
      for (const p of page.points) yield { id: String(p.id), payload: toPayload(p.payload) };
      offset = page.next_page_offset as Schemas['ExtendedPointId'] | null | undefined;
    } while (offset !== undefined && offset !== null);
  }

  async documentVersions(docIds: string[]): Promise<Map<string, Fence>> {
    if (!Array.isArray(docIds) || docIds.some((d) => typeof d !== 'string')) throw rejected('docIds must be an array of strings');
    const api = await this.api();
    try {
      return await this.readFences(api, docIds);
    } catch (e) {
      throw this.fail(e, 'documentVersions');
    }
  }

  /**
   * Dense vectors already stored for chunks with these content hashes under `model`: the embedding
   * cache of distributed mode (adapters/embedding-cache/qdrant). Hashes with no stored point are absent.
   */
  async vectorsByContent(model: string, contentHashes: string[]): Promise<Map<string, Float32Array>> {
    const out = new Map<string, Float32Array>();
    const wanted = [...new Set(contentHashes)];
    if (wanted.length === 0) return out;
    const api = await this.api();
    try {
      // each round asks only for the hashes still missing, so a hash many points share (a common
      // footer) is read once, not once per point: every round finds a new hash or ends
      let missing = wanted;
      while (missing.length > 0) {
        const ask = missing.slice(0, SCROLL_PAGE);
        const page = await api.scroll(this.opts.collection, {
          filter: { must: [{ key: 'content_hash', match: { any: ask } }, { key: 'embed_model', match: { value: model } }] },
          limit: SCROLL_PAGE, with_payload: ['content_hash'], with_vector: [DENSE],
        });
        for (const p of page.points) {
          const hash = p.payload?.['content_hash'];
          const v = (p.vector as Record<string, unknown> | null | undefined)?.[DENSE];
          if (typeof hash === 'string' && Array.isArray(v) && !out.has(hash)) out.set(hash, Float32Array.from(v as number[]));
        }
        // a short page holds every point of the hashes asked: the ones not found are not stored
        const asked = new Set(ask);
        missing = page.points.length < SCROLL_PAGE
          ? missing.filter((h) => !asked.has(h))
          : missing.filter((h) => !out.has(h));
      }
    } catch (e) {
      throw this.fail(e, 'reading cached vectors');
    }
    return out;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.client = null;
  }
}

/** Points per upsert request: ~8 MiB of JSON (a float is ~21 characters, plus payload), between 16 and 512. */
function defaultUpsertPoints(dimension: number): number {
  return Math.max(16, Math.min(512, Math.floor((8 * 1024 * 1024) / (dimension * 21 + 4096))));
}

function toQdrantPoint(p: ChunkPoint): Schemas['PointStruct'] {
  const sparse = documentSparseVector(p.indexText ?? p.payload.text);
  return {
    id: p.id,
    vector: sparse.indices.length > 0 ? { [DENSE]: Array.from(p.vector), [SPARSE]: sparse } : { [DENSE]: Array.from(p.vector) },
    payload: { ...p.payload },
  };
}

/** Builds the Qdrant index. No I/O happens until `init()` (which creates the collections if missing). */
export function createQdrantVectorIndex(options: QdrantVectorIndexOptions): QdrantVectorIndex {
  const problems: string[] = [];
  try {
    new URL(options?.url);
  } catch {
    problems.push(`url must be an absolute URL, got ${String(options?.url)}`);
  }
  if (!Number.isInteger(options?.dimension) || options.dimension < 1 || options.dimension > 65_536) problems.push(`dimension must be a positive integer, got ${String(options?.dimension)}`);
  if (options?.upsertBatchPoints !== undefined && !(Number.isInteger(options.upsertBatchPoints) && options.upsertBatchPoints >= 1)) problems.push('upsertBatchPoints must be a positive integer');
  if (options?.collection !== undefined && !/^[A-Za-z0-9_.-]{1,255}$/.test(options.collection)) problems.push(`collection must be 1–255 letters, digits, "_", "-" or ".", got ${JSON.stringify(options.collection)}`);
  if (problems.length > 0) throw new TributaryError('INVALID_CONFIG', `qdrant index: ${problems.join('; ')}`);
  return new QdrantVectorIndex(options);
}

export { qdrantError } from './qdrant-errors.ts';
export { toQdrantFilter } from './qdrant-filter.ts';
