import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { errorCode } from '../../ports/errors.ts';
import type { ChunkPayload, ChunkPoint, SearchFilter, SearchHit, VectorIndex } from '../../ports/vector-index.ts';
import { chunkPointId } from '../../schemas/ids.ts';

/**
 * The VectorIndex contract, written only against the port, run against every adapter.
 *
 * The factory returns a fresh, initialised, empty index per test. `reopen` (optional) closes
 * nothing itself: the suite closes `index` first, then asks for a new instance over the same
 * storage, to check that acknowledged writes are durable.
 */
export interface VectorIndexHarness {
  index: VectorIndex;
  cleanup(): Promise<void>;
  reopen?: () => Promise<VectorIndex>;
}

export function describeVectorIndexConformance(name: string, factory: () => Promise<VectorIndexHarness>): void {
  describe(`VectorIndex conformance: ${name}`, () => {
    let h: VectorIndexHarness;
    let index: VectorIndex;
    let dim: number;

    beforeEach(async () => {
      h = await factory();
      index = h.index;
      dim = index.capabilities.dimension;
    });

    afterEach(async () => {
      await h.cleanup();
    });

    // ---- helpers -------------------------------------------------------------------------------

    /** A unit vector mostly along `axis`, tilted towards `tiltAxis` by `tilt` (cos to axis = 1/√(1+tilt²)). */
    function vec(axis: number, tilt = 0, tiltAxis = axis + 1): Float32Array {
      const v = new Float32Array(dim);
      v[axis % dim] = 1;
      v[tiltAxis % dim] = (v[tiltAxis % dim] ?? 0) + tilt;
      let n = 0;
      for (const x of v) n += x * x;
      return v.map((x) => x / Math.sqrt(n));
    }

    interface DocSpec {
      texts: string[];
      vectors?: Float32Array[];
      category?: string;
      author?: string;
      title?: string | null;
      url?: string | null;
    }

    function points(docId: string, version: number, spec: DocSpec): ChunkPoint[] {
      return spec.texts.map((text, i) => ({
        id: chunkPointId(docId, i),
        vector: spec.vectors?.[i] ?? vec(i + 3),
        payload: {
          doc_id: docId,
          doc_version: version,
          chunk_index: i,
          content_hash: `hash-${docId}-${version}-${i}`,
          category: spec.category ?? 'general',
          author: spec.author ?? 'anon',
          source_ts: 1_700_000_000_000 + version,
          embed_model: 'test-model',
          title: spec.title === undefined ? null : spec.title,
          url: spec.url === undefined ? null : spec.url,
          text,
        },
      }));
    }

    async function put(docId: string, version: number, spec: DocSpec): Promise<ChunkPoint[]> {
      const pts = points(docId, version, spec);
      expect(await index.replaceDocument(docId, version, pts)).toBe('applied');
      return pts;
    }

    async function scanAll(filter?: SearchFilter): Promise<Array<{ id: string; payload: ChunkPayload }>> {
      const out: Array<{ id: string; payload: ChunkPayload }> = [];
      for await (const p of index.scan(filter)) out.push(p);
      return out;
    }

    async function chunksOf(docId: string): Promise<Array<{ id: string; payload: ChunkPayload }>> {
      return (await scanAll({ docId })).sort((a, b) => a.payload.chunk_index - b.payload.chunk_index);
    }

    const docIds = (hits: SearchHit[]): string[] => hits.map((x) => x.payload.doc_id);

    function expectDescendingScores(hits: SearchHit[]): void {
      for (let i = 1; i < hits.length; i++) expect(hits[i]!.score).toBeLessThanOrEqual(hits[i - 1]!.score);
    }

    const newDoc = (): string => randomUUID();

    // ---- basics --------------------------------------------------------------------------------

    it('reports its capabilities', () => {
      expect(index.kind).toMatch(/\S/);
      expect(Number.isInteger(dim) && dim >= 8).toBe(true);
      expect(index.capabilities.maxBatchPoints).toBeGreaterThanOrEqual(256);
      expect(typeof index.capabilities.sparse).toBe('boolean');
      expect(typeof index.capabilities.sideRanks).toBe('boolean');
    });

    it('finds a replaced document by vector and by keyword, with its payload intact', async () => {
      const a = newDoc();
      const pts = await put(a, 7, {
        texts: ['Kafka consumer groups rebalance when members join', 'Watermarks describe partition progress'],
        vectors: [vec(0), vec(1)],
        category: 'engineering',
        author: 'ada',
        title: 'Streams',
        url: 'https://example.org/streams',
      });
      await put(newDoc(), 1, { texts: ['Unrelated gardening notes about tomatoes'], vectors: [vec(5)] });

      const dense = await index.search({ k: 3, vector: vec(1) });
      expect(dense[0]!.id).toBe(pts[1]!.id);
      expect(dense[0]!.denseRank).toBe(1);
      expect(dense[0]!.sparseRank).toBeNull();
      expect(dense[0]!.payload).toEqual(pts[1]!.payload);

      const sparse = await index.search({ k: 3, text: 'rebalance' });
      expect(sparse.map((x) => x.id)).toEqual([pts[0]!.id]);
      expect(sparse[0]!.sparseRank).toBe(1);
      expect(sparse[0]!.denseRank).toBeNull();
      expect(sparse[0]!.payload).toEqual(pts[0]!.payload);
    });

    it('returns at most k hits, best first', async () => {
      for (let i = 0; i < 6; i++) await put(newDoc(), 1, { texts: [`shared word number ${i}`], vectors: [vec(0, i * 0.3)] });
      const hits = await index.search({ k: 4, vector: vec(0), text: 'shared word' });
      expect(hits).toHaveLength(4);
      expectDescendingScores(hits);
      const dense = await index.search({ k: 6, vector: vec(0) });
      // tilt grows with i, so similarity to vec(0) falls with i
      expect(dense.map((x) => x.payload.text)).toEqual([0, 1, 2, 3, 4, 5].map((i) => `shared word number ${i}`));
    });

    it('ranks dense hits by exact cosine similarity', async () => {
      let seed = 7;
      const rand = (): number => {
        seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
        return seed / 2 ** 31 - 0.5;
      };
      const vectors: Array<{ id: string; v: Float32Array }> = [];
      for (let d = 0; d < 40; d++) {
        const docId = newDoc();
        const v = Float32Array.from({ length: dim }, rand);
        const [p] = await put(docId, 1, { texts: [`random ${d}`], vectors: [v] });
        vectors.push({ id: p!.id, v });
      }
      const q = Float32Array.from({ length: dim }, rand);
      const cos = (a: Float32Array, b: Float32Array): number => {
        let ab = 0; let aa = 0; let bb = 0;
        for (let i = 0; i < a.length; i++) { ab += a[i]! * b[i]!; aa += a[i]! * a[i]!; bb += b[i]! * b[i]!; }
        return ab / Math.sqrt(aa * bb);
      };
      const truth = vectors.map((x) => ({ id: x.id, s: cos(q, x.v) })).sort((a, b) => b.s - a.s).slice(0, 5).map((x) => x.id);
      const hits = await index.search({ k: 5, vector: q });
      expect(hits.map((x) => x.id)).toEqual(truth);
    });

    it('ranks keyword hits by BM25: more (and rarer) query words rank higher', async () => {
      const one = newDoc();
      const two = newDoc();
      const three = newDoc();
      await put(one, 1, { texts: ['the broker stores records on disk for a while'] });
      await put(two, 1, { texts: ['the broker and the consumer exchange heartbeats regularly'] });
      await put(three, 1, { texts: ['the broker tracks consumer lag for every partition'] });
      // unrelated chunks, so that every query word is rare enough to carry weight
      for (let i = 0; i < 5; i++) await put(newDoc(), 1, { texts: [`a note about gardening number ${i}`] });
      const hits = await index.search({ k: 3, text: 'consumer lag broker' });
      expect(docIds(hits)).toEqual([three, two, one]);
    });

    // ---- versioned replace -------------------------------------------------------------------

    it('an update replaces the chunks: old text is gone and no stale chunk remains', async () => {
      const a = newDoc();
      const v1 = await put(a, 1, { texts: ['original zebra chunk', 'original yak chunk', 'original walrus chunk'], vectors: [vec(0), vec(1), vec(2)] });
      const v2 = await put(a, 2, { texts: ['rewritten okapi chunk', 'rewritten ibis chunk'], vectors: [vec(3), vec(4)] });

      expect(await index.count({ docId: a })).toBe(2);
      const stored = await chunksOf(a);
      expect(stored.map((x) => x.id)).toEqual(v2.map((p) => p.id));
      expect(stored.map((x) => x.payload.doc_version)).toEqual([2, 2]);
      expect(stored.map((x) => x.payload.text)).toEqual(['rewritten okapi chunk', 'rewritten ibis chunk']);

      expect(await index.search({ k: 5, text: 'zebra yak walrus' })).toEqual([]);
      expect(docIds(await index.search({ k: 5, text: 'okapi' }))).toEqual([a]);
      // the v1 chunk that had vec(2) is gone, even though its point id (index 2) was not reused
      const dense = await index.search({ k: 5, vector: vec(2) });
      expect(dense.map((x) => x.id)).not.toContain(v1[2]!.id);
      expect(dense.every((x) => x.payload.doc_version === 2)).toBe(true);
      expect((await index.documentVersions([a])).get(a)).toEqual({ version: 2, deleted: false });
    });

    it('applyBatch applies mixed operations in order, one outcome each, stale ones changing nothing', async () => {
      const a = newDoc(); const b = newDoc(); const c = newDoc();
      await put(c, 9, { texts: ['newer capybara text'] });
      const outcomes = await index.applyBatch([
        { kind: 'replace', docId: a, version: 1, points: points(a, 1, { texts: ['batch heron one', 'batch heron two'] }) },
        { kind: 'replace', docId: b, version: 1, points: points(b, 1, { texts: ['batch lynx'] }) },
        { kind: 'replace', docId: c, version: 3, points: points(c, 3, { texts: ['older capybara text'] }) },
        { kind: 'replace', docId: a, version: 2, points: points(a, 2, { texts: ['batch heron rewritten'] }) },
        { kind: 'delete', docId: b, version: 2 },
      ]);
      expect(outcomes).toEqual(['applied', 'applied', 'stale', 'applied', 'applied']);
      expect((await chunksOf(a)).map((x) => x.payload.text)).toEqual(['batch heron rewritten']);
      expect(await index.count({ docId: b })).toBe(0);
      expect((await chunksOf(c)).map((x) => x.payload.text)).toEqual(['newer capybara text']);
      expect(docIds(await index.search({ k: 5, text: 'heron' }))).toEqual([a]);
      expect(await index.search({ k: 5, text: 'lynx' })).toEqual([]);
      const versions = await index.documentVersions([a, b, c]);
      expect(versions.get(a)).toEqual({ version: 2, deleted: false });
      expect(versions.get(b)).toEqual({ version: 2, deleted: true });
      expect(versions.get(c)).toEqual({ version: 9, deleted: false });
      expect(await index.applyBatch([])).toEqual([]);
    });

    it('applyBatch with one invalid operation rejects the whole batch and writes nothing', async () => {
      const a = newDoc(); const b = newDoc();
      const bad = points(b, 1, { texts: ['wrong size'] });
      bad[0]!.vector = new Float32Array(index.capabilities.dimension + 1);
      await expect(index.applyBatch([
        { kind: 'replace', docId: a, version: 1, points: points(a, 1, { texts: ['would be fine'] }) },
        { kind: 'replace', docId: b, version: 1, points: bad },
      ])).rejects.toMatchObject({ code: 'INDEX_REJECTED' });
      expect(await index.count({ docId: a })).toBe(0);
      expect((await index.documentVersions([a])).get(a)).toBeUndefined();
    });

    it('an update with far fewer chunks leaves none of the old ones behind', async () => {
      const a = newDoc();
      const many = Array.from({ length: 300 }, (_, i) => `chunk ${i} of the long version`);
      await put(a, 10, { texts: many });
      expect(await index.count({ docId: a })).toBe(300);
      await put(a, 11, { texts: ['the short version'] });
      expect(await index.count({ docId: a })).toBe(1);
      expect((await chunksOf(a)).map((x) => x.payload.text)).toEqual(['the short version']);
      expect(await index.count()).toBe(1);
    });

    it('an update to zero chunks empties the document but keeps it live', async () => {
      const a = newDoc();
      await put(a, 1, { texts: ['something'] });
      expect(await index.replaceDocument(a, 2, [])).toBe('applied');
      expect(await index.count({ docId: a })).toBe(0);
      expect((await index.documentVersions([a])).get(a)).toEqual({ version: 2, deleted: false });
    });

    it('ignores a stale version and changes nothing', async () => {
      const a = newDoc();
      await put(a, 5, { texts: ['fresh content'] });
      const before = await scanAll();
      expect(await index.replaceDocument(a, 4, points(a, 4, { texts: ['older content', 'older extra'] }))).toBe('stale');
      expect(await scanAll()).toEqual(before);
      expect(await index.search({ k: 5, text: 'older' })).toEqual([]);
      expect((await index.documentVersions([a])).get(a)).toEqual({ version: 5, deleted: false });
    });

    it('re-applying the same version is idempotent', async () => {
      const a = newDoc();
      const b = newDoc();
      const spec = { texts: ['alpha text', 'beta text', 'gamma text'], category: 'c1', author: 'x' };
      await put(a, 3, spec);
      await put(b, 1, { texts: ['other document'] });
      const once = (await scanAll()).sort((x, y) => x.id.localeCompare(y.id));
      const searchOnce = await index.search({ k: 5, vector: vec(3), text: 'beta' });
      expect(await index.replaceDocument(a, 3, points(a, 3, spec))).toBe('applied');
      expect(await index.replaceDocument(a, 3, points(a, 3, spec))).toBe('applied');
      expect((await scanAll()).sort((x, y) => x.id.localeCompare(y.id))).toEqual(once);
      expect(await index.count()).toBe(4);
      expect(await index.search({ k: 5, vector: vec(3), text: 'beta' })).toEqual(searchOnce);
    });

    it('keeps documents independent', async () => {
      const a = newDoc();
      const b = newDoc();
      await put(a, 1, { texts: ['document a one', 'document a two'] });
      await put(b, 1, { texts: ['document b one'] });
      await put(a, 2, { texts: ['document a only'] });
      await index.deleteDocument(a, 3);
      expect((await chunksOf(b)).map((x) => x.payload.text)).toEqual(['document b one']);
      expect(await index.count()).toBe(1);
    });

    // ---- delete ----------------------------------------------------------------------------------

    it('delete removes every chunk of the document and records it', async () => {
      const a = newDoc();
      const b = newDoc();
      await put(a, 1, { texts: ['penguin one', 'penguin two', 'penguin three'], vectors: [vec(0), vec(1), vec(2)] });
      await put(b, 1, { texts: ['albatross'], vectors: [vec(6)] });
      expect(await index.deleteDocument(a, 2)).toBe('applied');
      expect(await index.count({ docId: a })).toBe(0);
      expect(await index.search({ k: 5, text: 'penguin' })).toEqual([]);
      expect(docIds(await index.search({ k: 5, vector: vec(0) }))).toEqual([b]);
      expect((await index.documentVersions([a])).get(a)).toEqual({ version: 2, deleted: true });
      expect(await index.count()).toBe(1);
    });

    it('a delete is idempotent', async () => {
      const a = newDoc();
      await put(a, 1, { texts: ['x'] });
      expect(await index.deleteDocument(a, 2)).toBe('applied');
      expect(await index.deleteDocument(a, 2)).toBe('applied');
      expect(await index.count()).toBe(0);
      expect((await index.documentVersions([a])).get(a)).toEqual({ version: 2, deleted: true });
    });

    it('ignores a stale delete', async () => {
      const a = newDoc();
      await put(a, 5, { texts: ['still here'] });
      expect(await index.deleteDocument(a, 4)).toBe('stale');
      expect(await index.count({ docId: a })).toBe(1);
      expect((await index.documentVersions([a])).get(a)).toEqual({ version: 5, deleted: false });
    });

    it('ignores a create older than a delete; a newer create revives the document', async () => {
      const a = newDoc();
      expect(await index.deleteDocument(a, 10)).toBe('applied');
      expect(await index.replaceDocument(a, 9, points(a, 9, { texts: ['late, older create'] }))).toBe('stale');
      expect(await index.count()).toBe(0);
      expect((await index.documentVersions([a])).get(a)).toEqual({ version: 10, deleted: true });
      await put(a, 11, { texts: ['newer create'] });
      expect(await index.count({ docId: a })).toBe(1);
      expect((await index.documentVersions([a])).get(a)).toEqual({ version: 11, deleted: false });
    });

    it('an unconditional delete removes everything without blocking a later create', async () => {
      const a = newDoc();
      await put(a, 5, { texts: ['one', 'two'] });
      expect(await index.deleteDocument(a, null)).toBe('applied');
      expect(await index.count({ docId: a })).toBe(0);
      // the fence is never lowered: an unconditional delete keeps the newest version seen
      expect((await index.documentVersions([a])).get(a)).toEqual({ version: 5, deleted: true });
      expect(await index.replaceDocument(a, 4, points(a, 4, { texts: ['replayed older create'] }))).toBe('stale');
      await put(a, 6, { texts: ['recreated'] });
      expect(await index.count({ docId: a })).toBe(1);

      const fresh = newDoc();
      expect(await index.deleteDocument(fresh, null)).toBe('applied');
      expect((await index.documentVersions([fresh])).get(fresh)).toEqual({ version: null, deleted: true });
      await put(fresh, 1, { texts: ['created after an unconditional delete'] });
      expect(await index.count({ docId: fresh })).toBe(1);
    });

    it('deleted and replaced chunks never crowd out live ones', async () => {
      const gone = newDoc();
      const updated = newDoc();
      const live = newDoc();
      // more deleted chunks than any sensible over-fetch margin, all closer to the query than the live one
      await put(gone, 1, { texts: Array.from({ length: 80 }, () => 'heron heron heron'), vectors: Array.from({ length: 80 }, (_, i) => vec(0, i * 0.001)) });
      await put(updated, 1, { texts: ['heron heron'], vectors: [vec(0, 0.1)] });
      await put(live, 1, { texts: ['one heron among many other words in a longer chunk'], vectors: [vec(0, 0.8)] });
      expect(docIds(await index.search({ k: 1, vector: vec(0), text: 'heron' }))).toEqual([gone]);
      await index.deleteDocument(gone, 2);
      await put(updated, 2, { texts: ['nothing about birds now'], vectors: [vec(5)] });
      for (const req of [{ text: 'heron' }, { vector: vec(0) }]) {
        const hits = await index.search({ k: 1, candidates: 1, ...req });
        expect(docIds(hits), JSON.stringify(Object.keys(req))).toEqual([live]);
        expect(hits[0]!.sparseRank ?? hits[0]!.denseRank).toBe(1);
      }
    });

    // ---- filters -------------------------------------------------------------------------------

    describe('filters', () => {
      let ids: Record<'e1' | 'e2' | 's1' | 'b1', string>;

      beforeEach(async () => {
        ids = { e1: newDoc(), e2: newDoc(), s1: newDoc(), b1: newDoc() };
        await put(ids.e1, 1, { texts: ['filtered corpus entry'], vectors: [vec(0)], category: 'engineering', author: 'ada' });
        await put(ids.e2, 1, { texts: ['filtered corpus entry'], vectors: [vec(0, 0.2)], category: 'engineering', author: 'bob' });
        await put(ids.s1, 1, { texts: ['filtered corpus entry'], vectors: [vec(0, 0.4)], category: 'science', author: 'ada' });
        await put(ids.b1, 1, { texts: ['filtered corpus entry'], vectors: [vec(0, 0.6)], category: 'business', author: 'cyd' });
      });

      const cases: Array<[string, (i: Record<'e1' | 'e2' | 's1' | 'b1', string>) => SearchFilter, Array<'e1' | 'e2' | 's1' | 'b1'>]> = [
        ['category', () => ({ category: 'engineering' }), ['e1', 'e2']],
        ['category list', () => ({ category: ['science', 'business'] }), ['s1', 'b1']],
        ['author', () => ({ author: 'ada' }), ['e1', 's1']],
        ['author list', () => ({ author: ['bob', 'cyd'] }), ['e2', 'b1']],
        ['docId', (i) => ({ docId: i.s1 }), ['s1']],
        ['docId list', (i) => ({ docId: [i.e2, i.b1] }), ['e2', 'b1']],
        ['category and author', () => ({ category: 'engineering', author: 'ada' }), ['e1']],
        ['unknown value', () => ({ category: 'nope' }), []],
        ['empty list', () => ({ author: [] }), []],
      ];

      for (const [label, make, want] of cases) {
        it(`${label}: dense, keyword, hybrid, count and scan agree`, async () => {
          const filter = make(ids);
          const expected = want.map((w) => ids[w]);
          // dense: ordered by similarity (tilt grows e1 < e2 < s1 < b1)
          expect(docIds(await index.search({ k: 10, vector: vec(0), filter }))).toEqual(expected);
          expect(docIds(await index.search({ k: 10, text: 'corpus', filter })).sort()).toEqual([...expected].sort());
          expect(docIds(await index.search({ k: 10, vector: vec(0), text: 'corpus', filter })).sort()).toEqual([...expected].sort());
          expect(await index.count(filter)).toBe(expected.length);
          expect((await scanAll(filter)).map((x) => x.payload.doc_id).sort()).toEqual([...expected].sort());
        });
      }
    });

    it('a filter that matches few chunks still returns them on both sides (no post-filter loss)', async () => {
      for (let i = 0; i < 60; i++) {
        await put(newDoc(), 1, { texts: ['needle needle needle needle everywhere'], vectors: [vec(0, 0.01 * i)], category: 'crowd' });
      }
      const rare = newDoc();
      await put(rare, 1, { texts: ['a haystack that mentions the needle once among many other words here'], vectors: [vec(9)], category: 'rare' });
      const dense = await index.search({ k: 1, candidates: 1, vector: vec(0), filter: { category: 'rare' } });
      expect(docIds(dense)).toEqual([rare]);
      const sparse = await index.search({ k: 1, candidates: 1, text: 'needle', filter: { category: 'rare' } });
      expect(docIds(sparse)).toEqual([rare]);
      const byDoc = await index.search({ k: 3, vector: vec(0), text: 'needle', filter: { docId: rare } });
      expect(docIds(byDoc)).toEqual([rare]);
      if (index.capabilities.sideRanks) {
        expect(byDoc[0]!.denseRank).toBe(1);
        expect(byDoc[0]!.sparseRank).toBe(1);
      }
    });

    // ---- hybrid --------------------------------------------------------------------------------

    it('hybrid fusion ranks a chunk found by both sides above chunks found by one', async () => {
      const both = newDoc();
      const denseOnly = newDoc();
      const sparseOnly = newDoc();
      await put(denseOnly, 1, { texts: ['closest vector but about something else entirely'], vectors: [vec(0)] });
      await put(both, 1, { texts: ['a long passage that mentions quokka exactly one time among many other words'], vectors: [vec(0, 0.3)] });
      await put(sparseOnly, 1, { texts: ['quokka quokka quokka'], vectors: [vec(0, -1, 7)] });
      for (let i = 0; i < 6; i++) await put(newDoc(), 1, { texts: [`filler passage ${i}`], vectors: [vec(0, 0.5 + 0.1 * i)] });

      const hits = await index.search({ k: 3, candidates: 4, vector: vec(0), text: 'quokka' });
      expect(hits[0]!.payload.doc_id).toBe(both);
      const byDoc = new Map(hits.map((x) => [x.payload.doc_id, x]));
      expect([...byDoc.keys()].sort()).toEqual([both, denseOnly, sparseOnly].sort());
      if (index.capabilities.sideRanks) {
        expect(hits[0]!.denseRank).not.toBeNull();
        expect(hits[0]!.sparseRank).not.toBeNull();
        expect(byDoc.get(denseOnly)?.denseRank).toBe(1);
        expect(byDoc.get(denseOnly)?.sparseRank).toBeNull();
        expect(byDoc.get(sparseOnly)?.sparseRank).toBe(1);
        expect(byDoc.get(sparseOnly)?.denseRank).toBeNull();
      }
      expectDescendingScores(hits);
    });

    it('is dense-only without text and keyword-only without a vector', async () => {
      const a = newDoc();
      const b = newDoc();
      await put(a, 1, { texts: ['marmot burrow'], vectors: [vec(0)] });
      await put(b, 1, { texts: ['heron nest'], vectors: [vec(4)] });
      const dense = await index.search({ k: 5, vector: vec(4) });
      expect(dense).toHaveLength(2);
      expect(dense.every((x) => x.sparseRank === null && x.denseRank !== null)).toBe(true);
      const sparse = await index.search({ k: 5, text: 'marmot' });
      expect(docIds(sparse)).toEqual([a]);
      expect(sparse.every((x) => x.denseRank === null && x.sparseRank !== null)).toBe(true);
      expect(await index.search({ k: 5 })).toEqual([]);
    });

    it('keyword-indexes a chunk\'s index text (its context) and returns the chunk\'s own text; a new context replaces the old', async () => {
      const a = newDoc();
      const withContext = (indexText: string): ChunkPoint[] => points(a, 0, { texts: ['It lowers the session timeout.'], vectors: [vec(0)] }).map((p) => ({ ...p, indexText }));
      const v1 = withContext('Zebracorn tuning\n\nIt lowers the session timeout.').map((p) => ({ ...p, payload: { ...p.payload, doc_version: 1 } }));
      expect(await index.replaceDocument(a, 1, v1)).toBe('applied');
      const found = await index.search({ k: 5, text: 'zebracorn' });
      expect(docIds(found)).toEqual([a]);
      expect(found[0]!.payload.text).toBe('It lowers the session timeout.');
      // the same chunk text under a new title: the old context is no longer found, the new one is
      const v2 = withContext('Unicornfish tuning\n\nIt lowers the session timeout.').map((p) => ({ ...p, payload: { ...p.payload, doc_version: 2 } }));
      expect(await index.replaceDocument(a, 2, v2)).toBe('applied');
      expect(docIds(await index.search({ k: 5, text: 'zebracorn' }))).toEqual([]);
      expect(docIds(await index.search({ k: 5, text: 'unicornfish' }))).toEqual([a]);
    });

    it('never throws on keyword queries with odd characters, and still matches their words', async () => {
      const a = newDoc();
      await put(a, 1, { texts: ['Kafka lag monitoring for the café team'], vectors: [vec(0)] });
      const odd = [
        '"unbalanced', 'a - b', '-kafka', 'col:value', 'text:kafka', 'NOT', 'AND OR NOT NEAR', 'NEAR(kafka lag)', '(', ')', '*', 'kafka*',
        '^kafka', "it's", '\\', '{kafka}', '[x]', 'a.b', '+', '%', '', '   ', '\u0000', '🦀 emoji', '"" ""', "'; DROP TABLE chunks; --", 'a'.repeat(5000),
      ];
      for (const text of odd) {
        await expect(index.search({ k: 3, text }), JSON.stringify(text.slice(0, 40))).resolves.toBeInstanceOf(Array);
        await expect(index.search({ k: 3, text, vector: vec(0) })).resolves.toBeInstanceOf(Array);
      }
      for (const text of ['kafka-lag:', '"monitoring"', '(kafka OR)', 'NOT kafka', 'lag*', 'KAFKA^']) {
        expect(docIds(await index.search({ k: 3, text })), text).toEqual([a]);
      }
      expect(docIds(await index.search({ k: 3, text: 'cafe' }))).toEqual([a]);
      expect(await index.count()).toBe(1);
    });

    // ---- reads ---------------------------------------------------------------------------------

    it('count, scan and documentVersions report exactly what is stored', async () => {
      const a = newDoc();
      const b = newDoc();
      const c = newDoc();
      const pa = await put(a, 1, { texts: ['a0', 'a1', 'a2'], category: 'x' });
      const pb = await put(b, 4, { texts: ['b0'], category: 'y' });
      await put(c, 2, { texts: ['c0', 'c1'], category: 'x' });
      await index.deleteDocument(c, 3);

      expect(await index.count()).toBe(4);
      expect(await index.count({ category: 'x' })).toBe(3);
      const all = await scanAll();
      expect(all.map((x) => x.id).sort()).toEqual([...pa, ...pb].map((p) => p.id).sort());
      expect(new Set(all.map((x) => x.id)).size).toBe(all.length);
      const byId = new Map(all.map((x) => [x.id, x.payload]));
      for (const p of [...pa, ...pb]) expect(byId.get(p.id)).toEqual(p.payload);

      const unknown = newDoc();
      const versions = await index.documentVersions([a, b, c, unknown]);
      expect(versions.get(a)).toEqual({ version: 1, deleted: false });
      expect(versions.get(b)).toEqual({ version: 4, deleted: false });
      expect(versions.get(c)).toEqual({ version: 3, deleted: true });
      expect(versions.has(unknown)).toBe(false);
      expect(versions.size).toBe(3);
    });

    it('scans large results completely', async () => {
      const docs: string[] = [];
      for (let d = 0; d < 12; d++) {
        const id = newDoc();
        docs.push(id);
        await put(id, 1, { texts: Array.from({ length: 100 }, (_, i) => `doc ${d} chunk ${i}`), category: d % 2 === 0 ? 'even' : 'odd' });
      }
      const all = await scanAll();
      expect(all).toHaveLength(1200);
      expect(new Set(all.map((x) => x.id)).size).toBe(1200);
      expect(await scanAll({ category: 'odd' })).toHaveLength(600);
      expect(await index.count({ docId: docs.slice(0, 5) })).toBe(500);
    });

    it('keeps large versions exact', async () => {
      const a = newDoc();
      const big = 1_700_000_000 * 2 ** 21 + 2_000_000; // seconds · 2^21 + ordinal, as schemas/version.ts packs it
      await put(a, big, { texts: ['big version'] });
      expect((await index.documentVersions([a])).get(a)).toEqual({ version: big, deleted: false });
      expect(await index.replaceDocument(a, big - 1, points(a, big - 1, { texts: ['older by one'] }))).toBe('stale');
      expect((await chunksOf(a))[0]!.payload.doc_version).toBe(big);
    });

    // ---- errors --------------------------------------------------------------------------------

    it('rejects vectors of the wrong dimension with INDEX_REJECTED and changes nothing', async () => {
      const a = newDoc();
      const bad = points(a, 1, { texts: ['wrong size'], vectors: [new Float32Array(dim + 1).fill(0.1)] });
      await expect(index.replaceDocument(a, 1, bad)).rejects.toSatisfy((e: unknown) => errorCode(e) === 'INDEX_REJECTED');
      expect(await index.count()).toBe(0);
      expect((await index.documentVersions([a])).has(a)).toBe(false);
      await expect(index.search({ k: 3, vector: new Float32Array(dim - 1).fill(0.1) })).rejects.toSatisfy((e: unknown) => errorCode(e) === 'INDEX_REJECTED');
    });

    // ---- durability ----------------------------------------------------------------------------

    it('keeps acknowledged writes across close and reopen', async () => {
      if (!h.reopen) return;
      const a = newDoc();
      const b = newDoc();
      const pa = await put(a, 2, { texts: ['persisted ocelot', 'persisted lynx'], vectors: [vec(0), vec(1)], category: 'cats' });
      await put(b, 1, { texts: ['to be deleted'] });
      await index.deleteDocument(b, 2);
      await index.close();
      index = await h.reopen();
      h.index = index;
      expect((await chunksOf(a)).map((x) => x.payload)).toEqual(pa.map((p) => p.payload));
      expect(await index.count()).toBe(2);
      expect(docIds(await index.search({ k: 1, vector: vec(1), text: 'lynx', filter: { category: 'cats' } }))).toEqual([a]);
      expect((await index.documentVersions([a, b]))).toEqual(new Map([[a, { version: 2, deleted: false }], [b, { version: 2, deleted: true }]]));
      expect(await index.replaceDocument(a, 1, points(a, 1, { texts: ['older'] }))).toBe('stale');
    });
  });
}
