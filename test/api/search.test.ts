import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startApiHarness, waitFor, type ApiHarness } from '../helpers/api-system.ts';

type Hit = { docId: string; chunkIndex: number; score: number; text: string; category: string; author: string; title: string | null; url: string | null };
type ErrorBody = { error: { code: string; message: string; details?: Array<{ path: string; message: string }> } };

describe('search API', () => {
  let h: ApiHarness;
  beforeEach(async () => { h = await startApiHarness(); });
  afterEach(async () => { await h.close(); });

  const search = (payload: unknown) => h.app.inject({ method: 'POST', url: '/v1/search', payload: payload as object });

  it('searches in one mode: keyword (BM25 only, nothing embedded), dense (vectors only) or hybrid (both, fused)', async () => {
    const res = await h.app.inject({
      method: 'POST', url: '/v1/content', payload: {
        items: [
          { category: 'article', author: 'Alice', content: 'The zyxquorum protocol elects a leader among replicas.' },
          { category: 'post', author: 'Bob', content: 'Sourdough bread needs a lively starter and a long, cold fermentation.' },
        ],
      },
    });
    const [aliceId] = (res.json() as { ids: string[] }).ids;
    await h.system.start();
    await waitFor('indexed', async () => (await h.system.index.count()) >= 2);
    let embedCalls = 0;
    const embed = h.system.embedder.embed.bind(h.system.embedder);
    (h.system.embedder as { embed: typeof embed }).embed = (texts, signal) => { embedCalls++; return embed(texts, signal); };

    const keyword = (await search({ query: 'zyxquorum', mode: 'keyword' })).json() as { mode: string; hits: Hit[] };
    expect(keyword.mode).toBe('keyword');
    expect(keyword.hits.map((x) => x.docId)).toEqual([aliceId]); // BM25 finds only the document with the word
    expect(embedCalls).toBe(0);
    const dense = (await search({ query: 'zyxquorum', mode: 'dense', k: 5 })).json() as { mode: string; hits: Hit[] };
    expect(dense.mode).toBe('dense');
    expect(dense.hits).toHaveLength(2); // every vector has a nearest-neighbour score
    expect(embedCalls).toBe(1);
    const hybrid = (await search({ query: 'zyxquorum', k: 5 })).json() as { mode: string; hits: Hit[] };
    expect(hybrid.mode).toBe('hybrid');
    expect(hybrid.hits[0]!.docId).toBe(aliceId);
    expect(embedCalls).toBe(2);

    const bad = await search({ query: 'zyxquorum', mode: 'sparse' });
    expect(bad.statusCode).toBe(400);
    expect(JSON.stringify(bad.json())).toContain('mode');

    const rag = (await h.app.inject({ method: 'POST', url: '/v1/rag/query', payload: { query: 'zyxquorum protocol', mode: 'keyword' } })).json() as { sources: Array<{ docId: string }>; steps: { search: { mode: string } } };
    expect(rag.steps.search.mode).toBe('keyword');
    expect(rag.sources.map((x) => x.docId)).toEqual([aliceId]);
  });

  it('finds published content once the pipeline indexed it, with filters', async () => {
    const res = await h.app.inject({
      method: 'POST', url: '/v1/content', payload: {
        items: [
          { category: 'article', author: 'Alice', title: 'Compaction', url: 'https://example.com/c', content: 'Log compaction keeps the latest record for every key in a Kafka topic.' },
          { category: 'post', author: 'Bob', content: 'Sourdough bread needs a lively starter and a long, cold fermentation.' },
        ],
      },
    });
    expect(res.statusCode).toBe(202);
    const [aliceId, bobId] = (res.json() as { ids: string[] }).ids;
    await h.system.start();

    const hits = await waitFor('the article to be searchable', async () => {
      const r = await search({ query: 'kafka log compaction latest record per key', k: 5 });
      expect(r.statusCode).toBe(200);
      const hs = (r.json() as { hits: Hit[] }).hits;
      return hs.some((x) => x.docId === aliceId) && hs.some((x) => x.docId === bobId) ? hs : null;
    });
    expect(hits[0]).toMatchObject({ docId: aliceId, chunkIndex: 0, category: 'article', author: 'Alice', title: 'Compaction', url: 'https://example.com/c' });
    expect(hits[0]!.text).toContain('compaction');
    expect(typeof hits[0]!.score).toBe('number');

    const bobOnly = (await search({ query: 'kafka log compaction', filter: { author: 'Bob' } })).json() as { hits: Hit[] };
    expect(bobOnly.hits.length).toBeGreaterThan(0);
    expect(bobOnly.hits.every((x) => x.author === 'Bob')).toBe(true);

    const byCategory = (await search({ query: 'bread', filter: { category: ['article'] }, k: 1 })).json() as { hits: Hit[] };
    expect(byCategory.hits).toHaveLength(1);
    expect(byCategory.hits[0]!.docId).toBe(aliceId);
  });

  it('names each bad field', async () => {
    const cases: Array<[unknown, string[]]> = [
      [{}, ['query']],
      [{ query: '' }, ['query']],
      [{ query: 5, k: 'ten' }, ['k', 'query']],
      [{ query: 'x', k: 0 }, ['k']],
      [{ query: 'x', k: 1000 }, ['k']],
      [{ query: 'x', filter: { category: 'Not Valid' } }, ['filter.category']],
      [{ query: 'x', filter: { colour: 'red' } }, ['filter.colour']],
      [{ query: 'x', filter: { author: 3 } }, ['filter.author']],
      [{ query: 'x', extra: true }, ['extra']],
    ];
    for (const [payload, expected] of cases) {
      const res = await search(payload);
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
      const body = res.json() as ErrorBody;
      expect(body.error.code).toBe('INVALID_INPUT');
      expect(body.error.details!.map((d) => d.path).sort(), JSON.stringify(payload)).toEqual(expected);
    }
  });

  it('refuses malformed JSON and wrong content types', async () => {
    const bad = await h.app.inject({ method: 'POST', url: '/v1/search', payload: '{query:', headers: { 'content-type': 'application/json' } });
    expect(bad.statusCode).toBe(400);
    const wrongType = await h.app.inject({ method: 'POST', url: '/v1/search', payload: 'query=x', headers: { 'content-type': 'text/plain' } });
    expect(wrongType.statusCode).toBe(415);
  });
});
