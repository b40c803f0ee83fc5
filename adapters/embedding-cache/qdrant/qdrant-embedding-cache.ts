import type { EmbeddingCache } from '../../../ports/embedder.ts';
import type { QdrantVectorIndex } from '../../vector-index/qdrant/qdrant-vector-index.ts';

/**
 * The embedding cache of distributed mode: no file of its own. A chunk's vector is stored in Qdrant
 * with its content hash and model (payload `content_hash`, `embed_model`, both indexed), so an
 * unchanged chunk — an edit elsewhere in its document, a replay, the same paragraph in another
 * document — is read back instead of embedded again, by any process on any host, across restarts.
 * Vectors come back as Qdrant stored them: normalised (cosine collections normalise on upsert),
 * which does not change any cosine score.
 */
export class QdrantEmbeddingCache implements EmbeddingCache {
  readonly kind = 'qdrant';
  private readonly index: QdrantVectorIndex;

  constructor(index: QdrantVectorIndex) {
    this.index = index;
  }

  getMany(model: string, contentHashes: string[]): Promise<Map<string, Float32Array>> {
    return this.index.vectorsByContent(model, contentHashes);
  }

  /** Nothing to keep: the vectors reach Qdrant with their points. */
  async putMany(): Promise<void> {}

  async prune(): Promise<void> {}

  /** The index is closed by its owner. */
  async close(): Promise<void> {}
}
