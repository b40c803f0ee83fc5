import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSqliteEmbeddingCache } from '../../adapters/embedding-cache/sqlite/sqlite-embedding-cache.ts';
import { describeEmbeddingCacheConformance } from './embedding-cache.conformance.ts';

describeEmbeddingCacheConformance('sqlite (embedded default)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-cache-'));
  const cache = createSqliteEmbeddingCache({ path: join(dir, 'embedding-cache.db') });
  return {
    cache,
    dimension: 16,
    remember: (model, entries) => cache.putMany(model, entries),
    async cleanup() {
      await cache.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});
