export interface EmbedderCapabilities {
  dimension: number;
  /** Most texts in one call. */
  maxBatch: number;
  /** Longest input in tokens the model accepts. */
  maxInputTokens: number;
  /** Vectors are L2-normalised. */
  normalized: boolean;
}

export interface Embedder {
  /** Stable model id: part of the embedding-cache key and of every point's payload. */
  readonly id: string;
  readonly capabilities: EmbedderCapabilities;
  /** Embeds at most `maxBatch` texts. Errors are TributaryErrors (EMBEDDER_*), retryable where sensible. */
  embed(texts: string[], signal?: AbortSignal): Promise<Float32Array[]>;
  close(): Promise<void>;
}

/** Content-addressed cache: key = hash(model id, chunk text). */
export interface EmbeddingCache {
  getMany(keys: string[]): Promise<Map<string, Float32Array>>;
  putMany(entries: Array<[string, Float32Array]>): Promise<void>;
  close(): Promise<void>;
}
