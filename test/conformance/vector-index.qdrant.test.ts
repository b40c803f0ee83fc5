import { randomUUID } from 'node:crypto';
import { QdrantClient } from '@qdrant/js-client-rest';
import { describe, expect, it } from 'vitest';
import { createQdrantVectorIndex, qdrantError, toQdrantFilter } from '../../adapters/vector-index/qdrant/qdrant-vector-index.ts';
import { documentSparseVector, querySparseVector, sparseTerms, termIndex } from '../../adapters/vector-index/qdrant/sparse.ts';
import type { VectorIndex } from '../../ports/vector-index.ts';
import { describeVectorIndexConformance, type VectorIndexHarness } from './vector-index.conformance.ts';

/**
 * The VectorIndex conformance suite on a live Qdrant (QDRANT_URL, e.g. http://127.0.0.1:6333,
 * started by `docker compose up qdrant`). Each test gets its own pair of collections, dropped after.
 * Without QDRANT_URL the suite is skipped; the adapter's pure parts below always run.
 */

const url = process.env['QDRANT_URL'];
const DIMENSION = 32;

if (url) {
  describeVectorIndexConformance('qdrant', async () => {
    const collection = `tributary_test_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
    const open = async (): Promise<VectorIndex> => {
      const index = createQdrantVectorIndex({ url, apiKey: process.env['QDRANT_API_KEY'], dimension: DIMENSION, collection });
      await index.init();
      return index;
    };
    const harness: VectorIndexHarness = {
      index: await open(),
      reopen: open,
      async cleanup() {
        await harness.index.close();
        const admin = new QdrantClient({ url, apiKey: process.env['QDRANT_API_KEY'], checkCompatibility: false });
        await admin.deleteCollection(collection);
        await admin.deleteCollection(`${collection}_doc_versions`);
      },
    };
    return harness;
  });
} else {
  describe.skip('VectorIndex conformance: qdrant — skipped: set QDRANT_URL (e.g. http://127.0.0.1:6333 after `docker compose up qdrant`) to run it', () => {
    it('needs a Qdrant server', () => {});
  });
}

describe('Qdrant adapter without a server', () => {
  it('the factory validates options and does no I/O', async () => {
    const index = createQdrantVectorIndex({ url: 'http://127.0.0.1:1', dimension: 8 });
    await expect(index.count()).rejects.toSatisfy((e: unknown) => (e as { code?: string }).code === 'INDEX_UNAVAILABLE');
    expect(() => createQdrantVectorIndex({ url: 'not a url', dimension: 8 })).toThrow(/url/);
    expect(() => createQdrantVectorIndex({ url: 'http://x', dimension: 0 })).toThrow(/dimension/);
  });

  it('an unreachable server is INDEX_UNAVAILABLE and retryable', async () => {
    const index = createQdrantVectorIndex({ url: 'http://127.0.0.1:1', dimension: 8, timeoutMs: 2_000 });
    await expect(index.init()).rejects.toSatisfy((e: unknown) => {
      const t = e as { code?: string; retryable?: boolean };
      return t.code === 'INDEX_UNAVAILABLE' && t.retryable === true;
    });
  });

  it('maps HTTP failures by status', () => {
    expect(qdrantError(Object.assign(new Error('Bad Request'), { status: 400, data: { status: { error: 'Wrong input' } } }), 'x').code).toBe('INDEX_REJECTED');
    const busy = qdrantError(Object.assign(new Error('Service Unavailable'), { status: 503 }), 'x');
    expect([busy.code, busy.retryable, busy.upstreamStatus]).toEqual(['INDEX_UNAVAILABLE', true, 503]);
    const limited = qdrantError(Object.assign(new Error('slow down'), { name: 'QdrantClientResourceExhaustedError', retry_after: 3 }), 'x');
    expect([limited.code, limited.retryAfterMs]).toEqual(['INDEX_UNAVAILABLE', 3000]);
  });

  it('translates filters', () => {
    expect(toQdrantFilter(undefined)).toBeUndefined();
    expect(toQdrantFilter({})).toBeUndefined();
    expect(toQdrantFilter({ category: 'a', author: ['x', 'y'], docId: 'd' })).toEqual({
      must: [{ key: 'category', match: { value: 'a' } }, { key: 'author', match: { any: ['x', 'y'] } }, { key: 'doc_id', match: { value: 'd' } }],
    });
    expect(toQdrantFilter({ docId: [] })).toBeNull();
  });

  it('encodes sparse vectors: words, diacritics folded, BM25 term frequency, sorted unique indices', () => {
    expect(sparseTerms('Café au LAIT, café! naïve-ly "quoted" x:y')).toEqual(['cafe', 'au', 'lait', 'cafe', 'naive', 'ly', 'quoted', 'x', 'y']);
    const doc = documentSparseVector('kafka lag kafka');
    const kafka = doc.indices.indexOf(termIndex('kafka'));
    const lag = doc.indices.indexOf(termIndex('lag'));
    expect(kafka).toBeGreaterThanOrEqual(0);
    expect(lag).toBeGreaterThanOrEqual(0);
    expect(doc.values[kafka]!).toBeGreaterThan(doc.values[lag]!);
    expect(doc.values[kafka]!).toBeLessThan(2 * doc.values[lag]!); // saturation
    expect([...doc.indices].sort((a, b) => a - b)).toEqual(doc.indices);
    expect(new Set(doc.indices).size).toBe(doc.indices.length);
    expect(doc.indices.every((i) => Number.isInteger(i) && i >= 0 && i < 2 ** 32)).toBe(true);
    expect(querySparseVector('Kafka kafka LAG')).toEqual({ indices: [termIndex('kafka'), termIndex('lag')].sort((a, b) => a - b), values: [1, 1] });
    expect(querySparseVector('-- :: ""')).toEqual({ indices: [], values: [] });
    // a longer chunk weighs the same term frequency less
    const short = documentSparseVector('kafka');
    const long = documentSparseVector(`kafka ${'other '.repeat(400)}`);
    expect(short.values[short.indices.indexOf(termIndex('kafka'))]!).toBeGreaterThan(long.values[long.indices.indexOf(termIndex('kafka'))]!);
  });
});
