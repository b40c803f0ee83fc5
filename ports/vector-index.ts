/**
 * The vector index, in the pipeline's own terms: replace a document's chunks with a newer version,
 * delete a document, search by meaning and by keywords with filters.
 */

export interface ChunkPayload {
  doc_id: string;
  doc_version: number;
  chunk_index: number;
  content_hash: string;
  category: string;
  author: string;
  source_ts: number;
  embed_model: string;
  title: string | null;
  url: string | null;
  text: string;
}

export interface ChunkPoint {
  /** UUIDv5(document id, chunk index) */
  id: string;
  vector: Float32Array;
  payload: ChunkPayload;
  /**
   * What the keyword side indexes for this chunk when it differs from `payload.text`: the chunk in
   * its context (its document's title; the heading path is already in the chunk). Search returns
   * `payload.text`, the chunk itself.
   */
  indexText?: string;
}

export interface SearchFilter {
  category?: string | string[];
  author?: string | string[];
  docId?: string | string[];
}

export interface SearchRequest {
  /** Dense query vector (omit for keyword-only search). */
  vector?: Float32Array;
  /** Keyword query text (omit for dense-only search). */
  text?: string;
  k: number;
  filter?: SearchFilter;
  /** Candidates per side before fusion; default 4*k. */
  candidates?: number;
}

export interface SearchHit {
  id: string;
  score: number;
  payload: ChunkPayload;
  /**
   * Rank on each side before fusion (null = not found on that side). An index whose capabilities say
   * `sideRanks: false` fuses hybrid results where it cannot see the sides: both are null in them.
   */
  denseRank: number | null;
  sparseRank: number | null;
}

export type ApplyOutcome = 'applied' | 'stale';

/** One document-level write, as `replaceDocument` / `deleteDocument` take it. */
export type IndexOperation =
  | { kind: 'replace'; docId: string; version: number; points: ChunkPoint[] }
  | { kind: 'delete'; docId: string; version: number | null };

export interface VectorIndexCapabilities {
  dimension: number;
  /** Keyword (BM25/sparse) side of hybrid search. */
  sparse: boolean;
  maxBatchPoints: number;
  /** Hybrid hits report their rank on each side (denseRank/sparseRank); false when the fusion happens out of sight (Qdrant's server-side RRF). */
  sideRanks: boolean;
}

export interface VectorIndex {
  readonly kind: string;
  readonly capabilities: VectorIndexCapabilities;
  /** Creates collections/tables. Called once at start-up, never on the hot path. */
  init(): Promise<void>;
  /** Resolves when the index can be used now; throws INDEX_UNAVAILABLE saying why not (readiness checks). */
  ping(): Promise<void>;
  /**
   * Upserts the document's chunks at `version`, then deletes its chunks with an older version.
   * Returns "stale" (and changes nothing) when a newer version was already applied.
   * Resolves only after the index acknowledged.
   */
  replaceDocument(docId: string, version: number, points: ChunkPoint[]): Promise<ApplyOutcome>;
  /** Deletes every chunk of the document. `version` null = unconditional. */
  deleteDocument(docId: string, version: number | null): Promise<ApplyOutcome>;
  /**
   * Applies operations in order, each with the semantics of replaceDocument / deleteDocument; one
   * outcome per operation. Resolves only after the index acknowledged all of them. Adapters make
   * the batch cheap (one transaction, one bulk request) — the embed stage writes every batch this way.
   */
  applyBatch(ops: IndexOperation[]): Promise<ApplyOutcome[]>;
  /** Hybrid search: dense and keyword candidates fused with reciprocal rank fusion. */
  search(req: SearchRequest): Promise<SearchHit[]>;
  count(filter?: SearchFilter): Promise<number>;
  /** Every point id with its document id and version (for audits and tests). */
  scan(filter?: SearchFilter): AsyncIterable<{ id: string; payload: ChunkPayload }>;
  /** Last applied version of each document (deleted documents included, marked). */
  documentVersions(docIds: string[]): Promise<Map<string, { version: number | null; deleted: boolean }>>;
  close(): Promise<void>;
}
