import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { EmbeddingCache } from '../../../ports/embedder.ts';
import { transaction } from '../../sqlite/open-database.ts';

/** Content-addressed embedding cache in SQLite (key = hash(model id, text) → float32 vector). */
export class SqliteEmbeddingCache implements EmbeddingCache {
  private readonly db: DatabaseSync;
  private readonly put: StatementSync;
  private readonly maxEntries: number;

  constructor(db: DatabaseSync, opts: { maxEntries?: number } = {}) {
    this.db = db;
    this.maxEntries = opts.maxEntries ?? 2_000_000;
    db.exec('CREATE TABLE IF NOT EXISTS embedding_cache (key TEXT PRIMARY KEY, vector BLOB NOT NULL, used_at INTEGER NOT NULL) WITHOUT ROWID');
    this.put = db.prepare('INSERT INTO embedding_cache (key, vector, used_at) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET used_at = excluded.used_at');
  }

  async getMany(keys: string[]): Promise<Map<string, Float32Array>> {
    const out = new Map<string, Float32Array>();
    for (let i = 0; i < keys.length; i += 500) {
      const slice = keys.slice(i, i + 500);
      const rows = this.db.prepare(`SELECT key, vector FROM embedding_cache WHERE key IN (${slice.map(() => '?').join(',')})`).all(...slice) as Array<{ key: string; vector: Uint8Array }>;
      for (const r of rows) {
        const copy = new Uint8Array(r.vector);
        out.set(r.key, new Float32Array(copy.buffer, copy.byteOffset, copy.byteLength / 4));
      }
    }
    return out;
  }

  async putMany(entries: Array<[string, Float32Array]>): Promise<void> {
    const now = Date.now();
    transaction(this.db, () => {
      for (const [k, v] of entries) this.put.run(k, new Uint8Array(v.buffer, v.byteOffset, v.byteLength), now);
    });
  }

  /** Drops the least recently written entries beyond the cap. */
  prune(): number {
    const n = Number((this.db.prepare('SELECT COUNT(*) AS n FROM embedding_cache').get() as { n: number }).n);
    if (n <= this.maxEntries) return 0;
    return Number(this.db.prepare('DELETE FROM embedding_cache WHERE key IN (SELECT key FROM embedding_cache ORDER BY used_at LIMIT ?)').run(n - this.maxEntries).changes);
  }

  async close(): Promise<void> {}
}
