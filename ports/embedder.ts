export interface EmbedderCapabilities {
  dimension: number;
  /** Most texts in one call. */
  maxBatch: number;
  /** Longest input in tokens the model accepts. */
  maxInputTokens: number;
  /** Vectors are L2-normalised. */
  normalized: boolean;
  /**
   * Computing a vector costs less than looking it up in the embedding cache and storing it there
   * (the hashing embedder: a few microseconds of arithmetic against a SQLite read and write), so the
   * embed stage does not cache this embedder's vectors. Absent: false (a model's vectors are cached).
   */
  cheaperThanCache?: boolean;
}

/** How urgent a call is: `query` (a search or RAG request waits on it; served first) or `batch` (pipeline work, the default). */
export interface EmbedOptions {
  priority?: 'query' | 'batch';
}

export interface Embedder {
  /** Stable model id: part of the embedding-cache key and of every point's payload. */
  readonly id: string;
  readonly capabilities: EmbedderCapabilities;
  /** Embeds at most `maxBatch` texts. Errors are TributaryErrors (EMBEDDER_*), retryable where sensible. */
  embed(texts: string[], signal?: AbortSignal, options?: EmbedOptions): Promise<Float32Array[]>;
  close(): Promise<void>;
}

/**
 * Content-addressed embedding cache: the vector of a chunk text under one model, looked up by
 * (model id, content hash) — the same hash every point's payload carries (`content_hash`).
 */
export interface EmbeddingCache {
  readonly kind: string;
  /** Vectors known for these content hashes under `model`; hashes not known are absent from the map. */
  getMany(model: string, contentHashes: string[]): Promise<Map<string, Float32Array>>;
  /** Remembers freshly embedded vectors (a cache that reads vectors back from the index may keep nothing here). */
  putMany(model: string, entries: Array<[contentHash: string, vector: Float32Array]>): Promise<void>;
  /** Periodic housekeeping: drops entries beyond the cache's bound (a no-op where the index holds the vectors). */
  prune(): Promise<void>;
  close(): Promise<void>;
}
