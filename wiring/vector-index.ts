import { join, resolve } from 'node:path';
import type { Embedder, EmbeddingCache } from '../ports/embedder.ts';
import type { VectorIndex } from '../ports/vector-index.ts';
import { createEmbeddedVectorIndex } from '../adapters/vector-index/embedded/index.ts';
import { createQdrantVectorIndex, QdrantVectorIndex } from '../adapters/vector-index/qdrant/qdrant-vector-index.ts';
import { createSqliteEmbeddingCache } from '../adapters/embedding-cache/sqlite/sqlite-embedding-cache.ts';
import { QdrantEmbeddingCache } from '../adapters/embedding-cache/qdrant/qdrant-embedding-cache.ts';
import type { Config } from './config.ts';
import { createEmbedder, type EmbedderRole } from './models.ts';
import { embedderChoice, modelsDirOf } from './model-choice.ts';
import { TributaryError, findTributaryError } from '../ports/errors.ts';

/**
 * The vector index and its embedding cache, picked from config:
 *  - QDRANT_URL set: Qdrant (collection QDRANT_COLLECTION), and the cache reads vectors back from
 *    Qdrant by content hash and model — no file on this host;
 *  - else the embedded SQLite index (index.db) and cache (embedding-cache.db) in the data directory.
 * No I/O until `init()` (the index) — called once at start-up by the system or the consumer process.
 */
export function createVectorIndex(config: Config, dimension: number): VectorIndex {
  if (config.qdrantUrl) {
    return createQdrantVectorIndex({
      url: config.qdrantUrl,
      ...(config.qdrantApiKey ? { apiKey: config.qdrantApiKey } : {}),
      collection: config.qdrantCollection,
      dimension,
      timeoutMs: config.qdrantTimeoutMs,
      fusion: config.qdrantFusion,
    });
  }
  return createEmbeddedVectorIndex({ path: join(resolve(config.dataDir), 'index.db'), dimension, synchronous: config.sqliteSync });
}

/** The embedding cache that goes with `index` (see above). */
export function createEmbeddingCache(config: Config, index: VectorIndex): EmbeddingCache {
  if (index instanceof QdrantVectorIndex) return new QdrantEmbeddingCache(index);
  return createSqliteEmbeddingCache({ path: join(resolve(config.dataDir), 'embedding-cache.db') });
}

/**
 * What indexing needs, opened in order: the embedder (its dimension sizes the index), the index
 * (initialised: collections and tables exist) and its embedding cache. Each part's close is pushed
 * on `closers` as soon as it is open, so a failure half-way closes what was opened.
 */
export async function openIndexing(config: Config, closers: Array<() => Promise<void> | void>, role: EmbedderRole = 'both'): Promise<{ embedder: Embedder; index: VectorIndex; cache: EmbeddingCache }> {
  const embedder = await createEmbedder(config, role);
  closers.push(() => embedder.close());
  const index = createVectorIndex(config, embedder.capabilities.dimension);
  closers.push(() => index.close());
  try {
    await index.init();
  } catch (e) {
    const te = findTributaryError(e);
    // an index built before `models pull minilm` has the old embedder's vector size: say where the new one came from
    if (te && config.embedder === 'auto' && !config.onnxModelDir && embedderChoice(config) === 'onnx') {
      throw new TributaryError(te.code, `${te.message} (the embedder is ${embedder.id}, ${embedder.capabilities.dimension} dimensions, found in ${modelsDirOf(config)} after \`tributary models pull minilm\`; TRIBUTARY_EMBEDDER=hashing keeps the hashing embedder)`, { cause: te, retryable: te.retryable });
    }
    throw e;
  }
  const cache = createEmbeddingCache(config, index);
  closers.push(() => cache.close());
  return { embedder, index, cache };
}
