import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEmbeddedVectorIndex } from '../../adapters/vector-index/embedded/index.ts';
import type { VectorIndex } from '../../ports/vector-index.ts';
import { describeVectorIndexConformance, type VectorIndexHarness } from './vector-index.conformance.ts';

const DIMENSION = 32;

describeVectorIndexConformance('embedded (SQLite + int8 scan + FTS5)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-vector-index-'));
  const path = join(dir, 'index.db');
  const open = async (): Promise<VectorIndex> => {
    const index = createEmbeddedVectorIndex({ path, dimension: DIMENSION, synchronous: 'normal' });
    await index.init();
    return index;
  };
  const harness: VectorIndexHarness = {
    index: await open(),
    reopen: open,
    async cleanup() {
      await harness.index.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return harness;
});
