import { createHash } from 'node:crypto';
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { EmbeddingCache } from '../../../ports/embedder.ts';
import { openDatabase, transaction } from '../../sqlite/open-database.ts';

/**
 * Content-addressed embedding cache in SQLite: key = hash(model id, content hash) → float32 vector.
 * For one machine (the embedded default): in distributed mode the cache reads vectors back from the
 * index (adapters/embedding-cache/qdrant), so no process needs a file of its own.
 */
export class SqliteEmbeddingCache implements EmbeddingCache {
  readonly kind = 'sqlite';
  private readonly db: DatabaseSync;
  private readonly put: StatementSync;
  private readonly maxEntries: number;
  private readonly ownsDatabase: boolean;

  /** `ownsDatabase`: close() closes `db` too. */
  constructor(db: DatabaseSync, opts: { maxEntries?: number; ownsDatabase?: boolean } = {}) {
    this.db = db;
    this.maxEntries = opts.maxEntries ?? 2_000_000;
    this.ownsDatabase = opts.ownsDatabase ?? false;
    db.exec('CREATE TABLE IF NOT EXISTS embedding_cache (key TEXT PRIMARY KEY, vector BLOB NOT NULL, used_at INTEGER NOT NULL) WITHOUT ROWID');
    this.put = db.prepare('INSERT INTO embedding_cache (key, vector, used_at) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET used_at = excluded.used_at');
  }

  async getMany(model: string, contentHashes: string[]): Promise<Map<string, Float32Array>> {
    const out = new Map<string, Float32Array>();
    const byKey = new Map(contentHashes.map((h) => [cacheKey(model, h), h]));
    const keys = [...byKey.keys()];
    for (let i = 0; i < keys.length; i += 500) {
      const slice = keys.slice(i, i + 500);
      const rows = this.db.prepare(`SELECT key, vector FROM embedding_cache WHERE key IN (${slice.map(() => '?').join(',')})`).all(...slice) as Array<{ key: string; vector: Uint8Array }>;
      for (const r of rows) {
        const copy = new Uint8Array(r.vector);
        out.set(byKey.get(r.key)!, new Float32Array(copy.buffer, copy.byteOffset, copy.byteLength / 4));
      }
    }
    return out;
  }

  async putMany(model: string, entries: Array<[string, Float32Array]>): Promise<void> {
    const now = Date.now();
    transaction(this.db, () => {
      for (const [h, v] of entries) this.put.run(cacheKey(model, h), new Uint8Array(v.buffer, v.byteOffset, v.byteLength), now);
    });
  }

  /** Drops the least recently written entries beyond the cap. */
  async prune(): Promise<void> {
    const n = Number((this.db.prepare('SELECT COUNT(*) AS n FROM embedding_cache').get() as { n: number }).n);
    if (n <= this.maxEntries) return;
    this.db.prepare('DELETE FROM embedding_cache WHERE key IN (SELECT key FROM embedding_cache ORDER BY used_at LIMIT ?)').run(n - this.maxEntries);
  }

  async close(): Promise<void> {
    if (this.ownsDatabase && this.db.isOpen) this.db.close();
  }
}

/** The cache in its own database file (WAL, synchronous=NORMAL: a lost entry is only re-embedded). */
export function createSqliteEmbeddingCache(opts: { path: string; maxEntries?: number }): SqliteEmbeddingCache {
  return new SqliteEmbeddingCache(openDatabase({ path: opts.path, synchronous: 'normal' }), { ...opts, ownsDatabase: true });
}

/** hash(model id, content hash): a new model never reads another model's vectors. */
function cacheKey(model: string, hash: string): string {
  return createHash('sha256').update(model).update('\u0000').update(hash).digest('base64url');
}
