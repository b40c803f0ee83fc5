import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EmbeddingCache } from '../../ports/embedder.ts';

/**
 * The EmbeddingCache contract, written against the port, run against every adapter: vectors come
 * back by (model, content hash), never across models, whatever the size of the request.
 *
 * `remember` makes the cache know a vector the way the pipeline does for that adapter: the SQLite
 * cache through putMany; the Qdrant cache by the point reaching the index with its content hash and
 * model (putMany there keeps nothing). Vectors may come back normalised (cosine stores), so they are
 * compared by direction.
 */
export interface EmbeddingCacheHarness {
  cache: EmbeddingCache;
  dimension: number;
  remember(model: string, entries: Array<[contentHash: string, vector: Float32Array]>): Promise<void>;
  cleanup(): Promise<void>;
}

export function describeEmbeddingCacheConformance(name: string, factory: () => Promise<EmbeddingCacheHarness>): void {
  describe(`EmbeddingCache conformance: ${name}`, () => {
    let h: EmbeddingCacheHarness;
    beforeEach(async () => { h = await factory(); });
    afterEach(async () => { await h.cleanup(); });

    const vector = (seed: number): Float32Array => {
      const v = Float32Array.from({ length: h.dimension }, (_, i) => Math.sin(seed * 7.13 + i * 1.7) + (i === seed % h.dimension ? 2 : 0));
      return v;
    };
    const cosine = (a: Float32Array, b: Float32Array): number => {
      let d = 0; let na = 0; let nb = 0;
      for (let i = 0; i < a.length; i++) { d += a[i]! * b[i]!; na += a[i]! ** 2; nb += b[i]! ** 2; }
      return d / Math.sqrt(na * nb);
    };
    const hash = (i: number) => `${i.toString(16).padStart(8, '0')}${'c'.repeat(56)}`;

    it('returns what it knows, by content hash, and leaves out what it does not', async () => {
      await h.remember('model-a', [[hash(1), vector(1)], [hash(2), vector(2)]]);
      const got = await h.cache.getMany('model-a', [hash(1), hash(2), hash(3)]);
      expect([...got.keys()].sort()).toEqual([hash(1), hash(2)]);
      expect(cosine(got.get(hash(1))!, vector(1))).toBeGreaterThan(0.9999);
      expect(cosine(got.get(hash(2))!, vector(2))).toBeGreaterThan(0.9999);
      expect(got.get(hash(1))!.length).toBe(h.dimension);
    });

    it('never returns a vector of another model for the same text', async () => {
      await h.remember('model-a', [[hash(5), vector(5)]]);
      expect((await h.cache.getMany('model-b', [hash(5)])).size).toBe(0);
      await h.remember('model-b', [[hash(5), vector(6)]]);
      expect(cosine((await h.cache.getMany('model-b', [hash(5)])).get(hash(5))!, vector(6))).toBeGreaterThan(0.9999);
      expect(cosine((await h.cache.getMany('model-a', [hash(5)])).get(hash(5))!, vector(5))).toBeGreaterThan(0.9999);
    });

    it('answers a large request (more than one page) and repeated hashes', async () => {
      const entries: Array<[string, Float32Array]> = Array.from({ length: 700 }, (_, i) => [hash(100 + i), vector(100 + i)]);
      await h.remember('model-a', entries);
      const wanted = [...entries.map(([k]) => k), hash(100), hash(99_999)];
      const got = await h.cache.getMany('model-a', wanted);
      expect(got.size).toBe(700);
      expect(cosine(got.get(hash(799))!, vector(799))).toBeGreaterThan(0.9999);
      expect((await h.cache.getMany('model-a', [])).size).toBe(0);
    });
  });
}
