import { afterEach, describe, expect, it } from 'vitest';
import { parseSse, startApiHarness, waitFor, type ApiHarness } from '../helpers/api-system.ts';
import { AnswerCache, normaliseQuestion } from '../../api/services/answer-cache.ts';
import type { RagResult } from '../../api/services/rag.ts';
import { loadPrompts } from '../../wiring/prompts.ts';

/**
 * The RAG answer cache on the real embedded system (extractive answers, hashing embedder): a
 * repeated question is answered from the cache under a new traceId; an update or a delete of a
 * document it was answered from drops the entry, and the question is answered afresh from the new
 * text; other options, `cache: false` and the TTL each miss.
 */

type Rag = { traceId: string; answer: string; sources: Array<{ docId: string; text: string }>; cache: { hit: boolean; ageMs?: number; cachedTraceId?: string } };

describe('the RAG answer cache', () => {
  let h: ApiHarness | null = null;
  afterEach(async () => { await h?.close(); h = null; });

  const ask = async (payload: Record<string, unknown>) => {
    const res = await h!.app.inject({ method: 'POST', url: '/v1/rag/query', payload: { query: 'How does Zorblax replicate its ledger?', ...payload } });
    expect(res.statusCode, res.body).toBe(200);
    return res.json() as Rag;
  };
  const publish = async (content: string) => {
    const res = await h!.app.inject({ method: 'POST', url: '/v1/content', payload: { category: 'article', author: 'Ada', source: 'kb', externalId: 'zorblax', title: 'Zorblax', content } });
    expect(res.statusCode).toBe(202);
    return (res.json() as { ids: string[] }).ids[0]!;
  };
  const indexedWith = (text: string) => waitFor(`the index to hold "${text}"`, async () => {
    const r = await h!.app.inject({ method: 'POST', url: '/v1/search', payload: { query: text, mode: 'keyword' } });
    return (r.json() as { hits: Array<{ text: string }> }).hits.some((x) => x.text.includes(text));
  });

  it('serves a repeated question from the cache until a source is updated, then answers afresh from the new text', async () => {
    h = await startApiHarness();
    await h.system.start();
    const id = await publish('Zorblax replicates its ledger with quorum writes to three zones.');
    await indexedWith('quorum writes');

    const first = await ask({});
    expect(first.cache).toEqual({ hit: false });
    expect(first.answer).toContain('quorum writes');
    const again = await ask({ query: '  how does ZORBLAX replicate its ledger  ' }); // the same question, normalised
    expect(again.cache).toMatchObject({ hit: true, cachedTraceId: first.traceId });
    expect(again.traceId).not.toBe(first.traceId);
    expect(again.answer).toBe(first.answer);

    // other options are other entries; cache: false always answers afresh
    expect((await ask({ mode: 'keyword' })).cache.hit).toBe(false);
    expect((await ask({ k: 3 })).cache.hit).toBe(false);
    expect((await ask({ cache: false })).cache.hit).toBe(false);

    // the source is updated: the next identical question is answered from the new text
    await publish('Zorblax replicates its ledger by shipping snapshots to a standby region.');
    await indexedWith('shipping snapshots');
    const fresh = await ask({});
    expect(fresh.cache.hit).toBe(false);
    expect(fresh.answer).toContain('shipping snapshots');
    expect(fresh.answer).not.toContain('quorum writes');
    expect((await ask({})).cache.hit).toBe(true);

    // deleted: no cached answer from it survives
    expect((await h.app.inject({ method: 'DELETE', url: `/v1/content/${id}` })).statusCode).toBe(202);
    await waitFor('the chunks deleted', async () => (await h!.system.index.count()) === 0);
    const gone = await ask({});
    expect(gone.cache.hit).toBe(false);
    expect(gone.sources).toEqual([]);

    // a streamed answer is cached too, and a hit streams back with its cache info
    await publish('Zorblax replicates its ledger with quorum writes to three zones.');
    await indexedWith('quorum writes');
    await ask({});
    const streamed = await h.app.inject({ method: 'POST', url: '/v1/rag/query', payload: { query: 'How does Zorblax replicate its ledger?', stream: true } });
    const events = parseSse(streamed.body);
    expect(events.map((e) => e.event)).toEqual(['sources', 'delta', 'done']);
    expect((events[2]!.data as { cache: { hit: boolean } }).cache.hit).toBe(true);
  });

  it('TRIBUTARY_ANSWER_CACHE_TTL_MS=0 turns it off', async () => {
    h = await startApiHarness({ config: { answerCacheTtlMs: 0 } });
    await h.system.start();
    await publish('Zorblax replicates its ledger with quorum writes to three zones.');
    await indexedWith('quorum writes');
    await ask({});
    expect((await ask({})).cache.hit).toBe(false);
  });
});

describe('AnswerCache', () => {
  const result = (docIds: string[]): RagResult => ({
    traceId: 't', answer: 'a', mode: 'extractive', sources: docIds.map((d) => ({ docId: d, chunkIndex: 0, text: 'x', score: 1, title: null, url: null })),
    steps: {} as RagResult['steps'],
  });
  const index = (versions: Record<string, number>) => ({
    documentVersions: async (ids: string[]) => new Map(ids.filter((i) => i in versions).map((i) => [i, { version: versions[i]!, deleted: false }])),
  });

  it('expires entries after the TTL, keeps the most recently used, and never keeps "nothing found"', async () => {
    let now = 0;
    const c = new AnswerCache({ ttlMs: 1000, maxEntries: 2, prompts: loadPrompts(), now: () => now });
    const idx = index({ a: 1, b: 1 });
    await c.put('k1', result(['a']), idx);
    await c.put('k2', result(['b']), idx);
    expect((await c.get('k1', idx)).outcome).toBe('hit'); // k1 is now the most recent
    await c.put('k3', result(['a']), idx); // evicts k2
    expect((await c.get('k2', idx)).outcome).toBe('miss');
    now = 1000;
    expect((await c.get('k1', idx)).outcome).toBe('expired');
    await c.put('k4', result([]), idx);
    expect((await c.get('k4', idx)).outcome).toBe('miss');
    expect(normaliseQuestion('  What  keeps ORDER?? ')).toBe('what keeps order');
  });
});
