import { QdrantClient, type Schemas } from '@qdrant/js-client-rest';
import { v5 as uuidv5 } from 'uuid';
import { TributaryError, findTributaryError } from '../../../ports/errors.ts';
import type {
  ApplyOutcome, ChunkPayload, ChunkPoint, IndexOperation, SearchFilter, SearchHit, SearchRequest, VectorIndex, VectorIndexCapabilities,
} from '../../../ports/vector-index.ts';
import { MAX_POINTS_PER_DOCUMENT, validateIndexOperations } from '../index-operations.ts';
import { documentSparseVector, querySparseVector } from './sparse.ts';

/**
 * The distributed vector index on Qdrant.
 *
 * - Collection `chunks` (configurable): a named dense vector `dense` (cosine) and a named sparse
 *   vector `sparse` with `modifier: idf`, filled client-side by sparse.ts (BM25's tf part on the
 *   client, idf on the server). Payload indexes on doc_id, category, author (keyword) and
 *   doc_version (integer).
 * - Collection `<chunks>_doc_versions`: one vector-less point per document (id = UUIDv5 of the
 *   document id) holding the last applied version and a deleted flag: the version fence.
 * - Replace = read the fence → upsert the points (wait) → delete `doc_id == X AND doc_version <= v
 *   AND id not in the new points` (wait) → write the fence. Qdrant has no transactions, so a crash
 *   between steps leaves extra or old chunks until the replayed event (at-least-once delivery)
 *   repeats the steps, which converge. One document's events are applied in order by one consumer
 *   (keys partition the topic), so the read-then-write fence does not race.
 * - Search: one batch request with a dense and a sparse query (each filtered, `candidates` long),
 *   fused here with reciprocal rank fusion (k = 60). Qdrant can fuse server-side (prefetch + rrf)
 *   but then does not say on which side each hit was found, which the port reports
 *   (denseRank/sparseRank); fusing here costs nothing extra and matches the embedded index exactly.
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
  /** Points per upsert request. Default 256. */
  upsertBatchPoints?: number;
}

const DENSE = 'dense';
const SPARSE = 'sparse';
const RRF_K = 60;
const MAX_K = 10_000;
const SCROLL_PAGE = 256;
/** Fixed namespace for version-record point ids: changing it would orphan every record. */
const VERSION_NAMESPACE = '4a0f3c2e-9d1b-5e7a-8c6f-2b3d4e5f6a7b';

type QdrantFilter = Schemas['Filter'];
type QdrantCondition = Schemas['FieldCondition'] | Schemas['HasIdCondition'];

function rejected(message: string): TributaryError {
  return new TributaryError('INDEX_REJECTED', `qdrant index: ${message}`);
}

/** Maps whatever the client threw to a TributaryError (recognised by shape, not class identity). */
export function qdrantError(e: unknown, what: string): TributaryError {
  const found = findTributaryError(e);
  if (found) return found;
  const err = e as { name?: unknown; status?: unknown; data?: unknown; retry_after?: unknown; message?: unknown } | null;
  const message = `qdrant index: ${what} failed: ${typeof err?.message === 'string' ? err.message : String(e)}`;
  if (err?.name === 'QdrantClientResourceExhaustedError') {
    const after = typeof err.retry_after === 'number' ? err.retry_after * 1000 : undefined;
    return new TributaryError('INDEX_UNAVAILABLE', message, { cause: e, upstreamStatus: 429, ...(after !== undefined ? { retryAfterMs: after } : {}) });
  }
  if (err?.name === 'QdrantClientTimeoutError') return new TributaryError('INDEX_UNAVAILABLE', message, { cause: e });
  if (typeof err?.status === 'number') {
    const status = err.status;
    const detail = err.data === undefined ? '' : `: ${JSON.stringify(err.data).slice(0, 500)}`;
    if (status === 408 || status === 429 || status >= 500) {
      return new TributaryError('INDEX_UNAVAILABLE', message + detail, { cause: e, upstreamStatus: status });
    }
    return new TributaryError('INDEX_REJECTED', message + detail, { cause: e, upstreamStatus: status, details: err.data });
  }
  // fetch() rejects with a TypeError when the server cannot be reached
  if (e instanceof TypeError) return new TributaryError('INDEX_UNAVAILABLE', message, { cause: e });
  if (err?.name === 'QdrantClientUnexpectedResponseError') return new TributaryError('INDEX_REJECTED', message, { cause: e });
  return new TributaryError('INTERNAL', message, { cause: e });
}

/** A SearchFilter as a Qdrant filter; null when it cannot match anything (an empty list). */
export function toQdrantFilter(filter: SearchFilter | undefined): QdrantFilter | undefined | null {
  if (!filter) return undefined;
  const must: QdrantCondition[] = [];
  for (const [field, key] of [['category', 'category'], ['author', 'author'], ['docId', 'doc_id']] as const) {
    const v = filter[field];
    if (v === undefined) continue;
    if (Array.isArray(v)) {
      if (v.length === 0) return null;
      must.push({ key, match: { any: v } });
    } else {
      must.push({ key, match: { value: v } });
    }
  }
  return must.length === 0 ? undefined : { must };
}

function checkFilter(filter: unknown): SearchFilter | undefined {
  if (filter === undefined || filter === null) return undefined;
  if (typeof filter !== 'object' || Array.isArray(filter)) throw rejected('filter must be an object');
  for (const [key, v] of Object.entries(filter)) {
    if (key !== 'category' && key !== 'author' && key !== 'docId') throw rejected(`unknown filter field "${key}" (expected category, author or docId)`);
    if (v !== undefined && typeof v !== 'string' && !(Array.isArray(v) && v.every((x) => typeof x === 'string'))) {
      throw rejected(`filter.${key} must be a string or an array of strings`);
    }
  }
  return filter as SearchFilter;
}

function str(v: unknown, fallback = ''): string {
  return typeof v === 'string' ? v : fallback;
}

function num(v: unknown): number {
  return typeof v === 'number' ? v : Number(v ?? 0);
}

function toPayload(p: Record<string, unknown> | null | undefined): ChunkPayload {
  const x = p ?? {};
  return {
    doc_id: str(x['doc_id']),
    doc_version: num(x['doc_version']),
    chunk_index: num(x['chunk_index']),
    content_hash: str(x['content_hash']),
    category: str(x['category']),
    author: str(x['author']),
    source_ts: num(x['source_ts']),
    embed_model: str(x['embed_model']),
    title: typeof x['title'] === 'string' ? x['title'] : null,
    url: typeof x['url'] === 'string' ? x['url'] : null,
    text: str(x['text']),
  };
}

export class QdrantVectorIndex implements VectorIndex {
  readonly kind = 'qdrant';
  readonly capabilities: VectorIndexCapabilities;
  private readonly opts: Required<Omit<QdrantVectorIndexOptions, 'apiKey'>> & { apiKey: string | undefined };
  private client: QdrantClient | null = null;
  private closed = false;

  constructor(options: QdrantVectorIndexOptions) {
    const collection = options.collection ?? 'chunks';
    this.opts = {
      url: options.url,
      apiKey: options.apiKey,
      dimension: options.dimension,
      collection,
      versionsCollection: options.versionsCollection ?? `${collection}_doc_versions`,
      timeoutMs: options.timeoutMs ?? 30_000,
      upsertBatchPoints: options.upsertBatchPoints ?? 256,
    };
    this.capabilities = { dimension: options.dimension, sparse: true, maxBatchPoints: MAX_POINTS_PER_DOCUMENT };
  }

  private api(): QdrantClient {
    if (this.client) return this.client;
    throw new TributaryError('INDEX_UNAVAILABLE', this.closed ? 'qdrant index is closed' : 'qdrant index: call init() first', { retryable: false });
  }

  async init(): Promise<void> {
    if (this.closed) throw new TributaryError('INDEX_UNAVAILABLE', 'qdrant index: init() after close()', { retryable: false });
    if (this.client) return;
    const client = new QdrantClient({ url: this.opts.url, apiKey: this.opts.apiKey, timeout: this.opts.timeoutMs, checkCompatibility: false });
    const { collection, versionsCollection, dimension } = this.opts;
    try {
      if (!(await client.collectionExists(collection)).exists) {
        await this.createIfMissing(client, collection, {
          vectors: { [DENSE]: { size: dimension, distance: 'Cosine' } },
          sparse_vectors: { [SPARSE]: { modifier: 'idf' } },
        });
      }
      const info = await client.getCollection(collection);
      const vectors = info.config.params.vectors as Record<string, { size?: number }> | undefined;
      const size = vectors?.[DENSE]?.size;
      if (size !== dimension) {
        throw rejected(`collection ${collection} holds ${size === undefined ? `no "${DENSE}" vectors` : `${size}-dimension vectors`} but the embedder produces ${dimension}; use another collection or recreate it`);
      }
      if (!info.config.params.sparse_vectors?.[SPARSE]) throw rejected(`collection ${collection} has no "${SPARSE}" sparse vector; recreate it`);
      for (const [field_name, field_schema] of [['doc_id', 'keyword'], ['category', 'keyword'], ['author', 'keyword'], ['doc_version', 'integer']] as const) {
        await client.createPayloadIndex(collection, { field_name, field_schema, wait: true });
      }
      if (!(await client.collectionExists(versionsCollection)).exists) {
        await this.createIfMissing(client, versionsCollection, { vectors: {} });
      }
    } catch (e) {
      throw qdrantError(e, 'init');
    }
    this.client = client;
  }

  /** Creates a collection, tolerating another process creating it first. */
  private async createIfMissing(client: QdrantClient, name: string, config: Schemas['CreateCollection']): Promise<void> {
    try {
      await client.createCollection(name, config);
    } catch (e) {
      if ((await client.collectionExists(name)).exists) return;
      throw e;
    }
  }

  private versionPointId(docId: string): string {
    return uuidv5(docId, VERSION_NAMESPACE);
  }

  private async fence(docId: string): Promise<{ version: number | null; deleted: boolean } | undefined> {
    const [rec] = await this.api().retrieve(this.opts.versionsCollection, { ids: [this.versionPointId(docId)], with_payload: true, with_vector: false });
    if (!rec) return undefined;
    const v = rec.payload?.['version'];
    return { version: typeof v === 'number' ? v : null, deleted: rec.payload?.['deleted'] === true };
  }

  private async writeFence(docId: string, version: number | null, deleted: boolean): Promise<void> {
    await this.api().upsert(this.opts.versionsCollection, {
      wait: true,
      points: [{ id: this.versionPointId(docId), vector: {}, payload: { doc_id: docId, version, deleted } }],
    });
  }

  /**
   * Validates every operation first (an invalid batch writes nothing), then applies them in order,
   * each upsert-then-delete with wait=true, so a crash mid-batch leaves a state that replay converges.
   */
  async applyBatch(ops: IndexOperation[]): Promise<ApplyOutcome[]> {
    validateIndexOperations(ops, this.opts.dimension, 'qdrant index');
    const out: ApplyOutcome[] = [];
    for (const op of ops) {
      out.push(op.kind === 'replace' ? await this.replaceDocument(op.docId, op.version, op.points) : await this.deleteDocument(op.docId, op.version));
    }
    return out;
  }

  async replaceDocument(docId: string, version: number, points: ChunkPoint[]): Promise<ApplyOutcome> {
    validateIndexOperations([{ kind: 'replace', docId, version, points }], this.opts.dimension, 'qdrant index');
    const api = this.api();
    try {
      const cur = await this.fence(docId);
      if (cur && cur.version !== null && cur.version > version) return 'stale';
      for (let i = 0; i < points.length; i += this.opts.upsertBatchPoints) {
        const batch = points.slice(i, i + this.opts.upsertBatchPoints).map((p) => {
          const sparse = documentSparseVector(p.payload.text);
          return {
            id: p.id,
            vector: sparse.indices.length > 0 ? { [DENSE]: Array.from(p.vector), [SPARSE]: sparse } : { [DENSE]: Array.from(p.vector) },
            payload: { ...p.payload },
          };
        });
        await api.upsert(this.opts.collection, { wait: true, points: batch });
      }
      const filter: QdrantFilter = {
        must: [{ key: 'doc_id', match: { value: docId } }, { key: 'doc_version', range: { lte: version } }],
        ...(points.length > 0 ? { must_not: [{ has_id: points.map((p) => p.id) }] } : {}),
      };
      await api.delete(this.opts.collection, { wait: true, filter });
      await this.writeFence(docId, version, false);
      return 'applied';
    } catch (e) {
      throw qdrantError(e, `replace of document ${docId}`);
    }
  }

  async deleteDocument(docId: string, version: number | null): Promise<ApplyOutcome> {
    validateIndexOperations([{ kind: 'delete', docId, version }], this.opts.dimension, 'qdrant index');
    const api = this.api();
    try {
      const cur = await this.fence(docId);
      if (version !== null && cur && cur.version !== null && cur.version > version) return 'stale';
      await api.delete(this.opts.collection, { wait: true, filter: { must: [{ key: 'doc_id', match: { value: docId } }] } });
      // an unconditional delete never lowers the fence: it keeps the newest version seen so far
      const fence = version === null ? (cur?.version ?? null) : Math.max(version, cur?.version ?? version);
      await this.writeFence(docId, fence, true);
      return 'applied';
    } catch (e) {
      throw qdrantError(e, `delete of document ${docId}`);
    }
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
    const api = this.api();
    if (filter === null) return [];
    const side = Math.max(candidates, k);
    const searches: Schemas['QueryRequest'][] = [];
    const sides: Array<'dense' | 'sparse'> = [];
    if (vector !== undefined) {
      searches.push({ query: Array.from(vector), using: DENSE, filter, limit: side, with_payload: true });
      sides.push('dense');
    }
    const sparse = text !== undefined ? querySparseVector(text) : null;
    if (sparse && sparse.indices.length > 0) {
      searches.push({ query: sparse, using: SPARSE, filter, limit: side, with_payload: true });
      sides.push('sparse');
    }
    if (searches.length === 0) return [];
    let responses: Schemas['QueryResponse'][];
    try {
      responses = await api.queryBatch(this.opts.collection, { searches });
    } catch (e) {
      throw qdrantError(e, 'search');
    }
    const fused = new Map<string, { score: number; denseRank: number | null; sparseRank: number | null; payload: ChunkPayload }>();
    responses.forEach((r, s) => {
      r.points.forEach((p, i) => {
        const id = String(p.id);
        const e = fused.get(id) ?? { score: 0, denseRank: null, sparseRank: null, payload: toPayload(p.payload) };
        e.score += 1 / (RRF_K + i + 1);
        if (sides[s] === 'dense') e.denseRank = i + 1; else e.sparseRank = i + 1;
        fused.set(id, e);
      });
    });
    const best = (e: { denseRank: number | null; sparseRank: number | null }): number => Math.min(e.denseRank ?? Infinity, e.sparseRank ?? Infinity);
    return [...fused]
      .sort(([ia, a], [ib, b]) => b.score - a.score || best(a) - best(b) || (ia < ib ? -1 : ia > ib ? 1 : 0))
      .slice(0, k)
      .map(([id, e]) => ({ id, score: e.score, payload: e.payload, denseRank: e.denseRank, sparseRank: e.sparseRank }));
  }

  async count(filter?: SearchFilter): Promise<number> {
    const f = toQdrantFilter(checkFilter(filter));
    const api = this.api();
    if (f === null) return 0;
    try {
      return (await api.count(this.opts.collection, { ...(f ? { filter: f } : {}), exact: true })).count;
    } catch (e) {
      throw qdrantError(e, 'count');
    }
  }

  async *scan(filter?: SearchFilter): AsyncIterable<{ id: string; payload: ChunkPayload }> {
    const f = toQdrantFilter(checkFilter(filter));
    if (f === null) return;
    let offset: Schemas['ExtendedPointId'] | null | undefined;
    do {
      let page: Schemas['ScrollResult'];
      try {
        page = await this.api().scroll(this.opts.collection, {
          ...(f ? { filter: f } : {}),
          limit: SCROLL_PAGE,
          with_payload: true,
          with_vector: false,
          ...(offset !== undefined && offset !== null ? { offset } : {}),
        });
      } catch (e) {
        throw qdrantError(e, 'scan');
      }
      for (const p of page.points) yield { id: String(p.id), payload: toPayload(p.payload) };
      offset = page.next_page_offset as Schemas['ExtendedPointId'] | null | undefined;
    } while (offset !== undefined && offset !== null);
  }

  async documentVersions(docIds: string[]): Promise<Map<string, { version: number | null; deleted: boolean }>> {
    if (!Array.isArray(docIds) || docIds.some((d) => typeof d !== 'string')) throw rejected('docIds must be an array of strings');
    const api = this.api();
    const out = new Map<string, { version: number | null; deleted: boolean }>();
    const unique = [...new Set(docIds)];
    try {
      for (let i = 0; i < unique.length; i += 1024) {
        const ids = unique.slice(i, i + 1024).map((d) => this.versionPointId(d));
        for (const rec of await api.retrieve(this.opts.versionsCollection, { ids, with_payload: true, with_vector: false })) {
          const docId = rec.payload?.['doc_id'];
          if (typeof docId !== 'string') continue;
          const v = rec.payload?.['version'];
          out.set(docId, { version: typeof v === 'number' ? v : null, deleted: rec.payload?.['deleted'] === true });
        }
      }
    } catch (e) {
      throw qdrantError(e, 'documentVersions');
    }
    return out;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.client = null;
  }
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
  if (problems.length > 0) throw new TributaryError('INVALID_CONFIG', `qdrant index: ${problems.join('; ')}`);
  return new QdrantVectorIndex(options);
}
