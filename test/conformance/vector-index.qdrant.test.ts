import { randomUUID } from 'node:crypto';
import { QdrantClient } from '@qdrant/js-client-rest';
import { afterEach, describe, expect, it } from 'vitest';
import { createQdrantVectorIndex, qdrantError, toQdrantFilter, type QdrantVectorIndex } from '../../adapters/vector-index/qdrant/qdrant-vector-index.ts';
import { QdrantEmbeddingCache } from '../../adapters/embedding-cache/qdrant/qdrant-embedding-cache.ts';
import { chunkPointId } from '../../schemas/ids.ts';
import { describeEmbeddingCacheConformance } from './embedding-cache.conformance.ts';
import { documentSparseVector, querySparseVector, sparseTerms, termIndex } from '../../adapters/vector-index/qdrant/sparse.ts';
import type { VectorIndex } from '../../ports/vector-index.ts';
import { describeWith } from '../helpers/ci.ts';
import { QDRANT_NEED, QDRANT_URL } from '../helpers/index-target.ts';
import { describeVectorIndexConformance, type VectorIndexHarness } from './vector-index.conformance.ts';

/**
 * The VectorIndex conformance suite on a live Qdrant (QDRANT_URL, e.g. http://127.0.0.1:6333,
 * started by `docker compose up qdrant`). Each test gets its own pair of collections, dropped after.
 * Without QDRANT_URL every test of it is reported as skipped; the adapter's pure parts below always run.
 */

const url = QDRANT_URL ?? '';
const DIMENSION = 32;

async function dropCollections(collection: string): Promise<void> {
  const admin = new QdrantClient({ url, apiKey: process.env['QDRANT_API_KEY'], checkCompatibility: false });
  for (const name of [collection, `${collection}_doc_versions`]) await admin.deleteCollection(name).catch(() => undefined);
}

describeWith(QDRANT_NEED, 'on a live Qdrant (QDRANT_URL)', () => {
  for (const fusion of ['client', 'server'] as const) describeVectorIndexConformance(`qdrant (${fusion}-side fusion)`, async () => {
    const collection = `tributary_test_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
    const open = async (): Promise<VectorIndex> => {
      const index = createQdrantVectorIndex({ url, apiKey: process.env['QDRANT_API_KEY'], dimension: DIMENSION, collection, fusion });
      await index.init();
      return index;
    };
    const harness: VectorIndexHarness = {
      index: await open(),
      reopen: open,
      async cleanup() {
        await harness.index.close();
        await dropCollections(collection);
      },
    };
    return harness;
  });

  describeEmbeddingCacheConformance('qdrant (vectors read back from the index)', async () => {
    const collection = `tributary_test_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
    const index = createQdrantVectorIndex({ url, apiKey: process.env['QDRANT_API_KEY'], dimension: 16, collection });
    await index.init();
    let doc = 0;
    return {
      cache: new QdrantEmbeddingCache(index),
      dimension: 16,
      // the pipeline's way: the point reaches the index with its content hash and model
      async remember(model, entries) {
        const ops = entries.map(([hash, vector]) => {
          const docId = `cache-doc-${doc++}`;
          return {
            kind: 'replace' as const, docId, version: 1,
            points: [{ id: chunkPointId(docId, 0), vector, payload: { doc_id: docId, doc_version: 1, chunk_index: 0, content_hash: hash, category: 'c', author: 'a', source_ts: 0, embed_model: model, title: null, url: null, text: `text ${hash}` } }],
          };
        });
        for (let i = 0; i < ops.length; i += 200) await index.applyBatch(ops.slice(i, i + 200));
      },
      async cleanup() {
        await index.close();
        await dropCollections(collection);
      },
    };
  });

  describe('Qdrant adapter on a live server', () => {
    const created: string[] = [];
    // made on first use: without QDRANT_URL these tests are only collected, as skipped
    let client: QdrantClient | null = null;
    const admin = () => (client ??= new QdrantClient({ url, apiKey: process.env['QDRANT_API_KEY'], checkCompatibility: false }));
    const fresh = () => {
      const c = `tributary_test_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
      created.push(c);
      return c;
    };
    afterEach(async () => { for (const c of created.splice(0)) await dropCollections(c); });
    const open = async (collection: string, dimension = DIMENSION): Promise<QdrantVectorIndex> => {
      const index = createQdrantVectorIndex({ url, apiKey: process.env['QDRANT_API_KEY'], dimension, collection });
      await index.init();
      return index;
    };

    it('refuses a collection of another vector size, distance or layout, saying what exists and what was expected', async () => {
      const wrongSize = fresh();
      await (await open(wrongSize, 16)).close();
      await expect(open(wrongSize, 32)).rejects.toMatchObject({ code: 'INDEX_REJECTED', message: expect.stringMatching(/16-dimension Cosine "dense" vectors; expected 32 dimensions with Cosine distance/) });

      const wrongDistance = fresh();
      await admin().createCollection(wrongDistance, { vectors: { dense: { size: DIMENSION, distance: 'Dot' } }, sparse_vectors: { sparse: { modifier: 'idf' } } });
      await expect(open(wrongDistance)).rejects.toMatchObject({ message: expect.stringMatching(/32-dimension Dot "dense" vectors; expected 32 dimensions with Cosine/) });

      const unnamed = fresh();
      await admin().createCollection(unnamed, { vectors: { size: DIMENSION, distance: 'Cosine' } });
      await expect(open(unnamed)).rejects.toMatchObject({ message: expect.stringMatching(/one unnamed 32-dimension Cosine vector; expected a "dense" vector/) });

      const noSparse = fresh();
      await admin().createCollection(noSparse, { vectors: { dense: { size: DIMENSION, distance: 'Cosine' } } });
      await expect(open(noSparse)).rejects.toMatchObject({ message: expect.stringMatching(/without the "sparse" sparse vector/) });
    });

    it('creates the payload indexes once, at start-up', async () => {
      const c = fresh();
      await (await open(c)).close();
      const schema = (await admin().getCollection(c)).payload_schema;
      expect(Object.fromEntries(Object.entries(schema).map(([k, v]) => [k, v?.data_type]))).toEqual({
        doc_id: 'keyword', category: 'keyword', author: 'keyword', doc_version: 'integer', content_hash: 'keyword', embed_model: 'keyword',
      });
    });

    it('a collection that disappears is an outage (retryable), and the next write creates it again', async () => {
      const c = fresh();
      const index = await open(c);
      const point = (docId: string) => ({ id: chunkPointId(docId, 0), vector: Float32Array.from({ length: DIMENSION }, (_, i) => (i === 1 ? 1 : 0)), payload: { doc_id: docId, doc_version: 1, chunk_index: 0, content_hash: 'h', category: 'c', author: 'a', source_ts: 0, embed_model: 'm', title: null, url: null, text: 'kafka lag' } });
      await index.replaceDocument('a', 1, [point('a')]);
      await admin().deleteCollection(c);
      await expect(index.ping()).rejects.toMatchObject({ code: 'INDEX_UNAVAILABLE', retryable: true });
      await expect(index.replaceDocument('b', 1, [point('b')])).resolves.toBe('applied'); // ping saw it gone: set up again first
      await admin().deleteCollection(c);
      await expect(index.replaceDocument('c', 1, [point('c')])).rejects.toMatchObject({ code: 'INDEX_UNAVAILABLE', retryable: true });
      await expect(index.replaceDocument('c', 1, [point('c')])).resolves.toBe('applied');
      expect(await index.count()).toBe(1);
      await index.ping();
      await index.close();
    });
  });
});

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
