import { readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWith } from '../helpers/ci.ts';
import { LOCAL_LLM_GGUF, LOCAL_LLM_MODEL_ID, LOCAL_LLM_NEED } from '../helpers/local-llm.ts';
import { parseSse, readUntil, startApiHarness, waitFor, type ApiHarness } from '../helpers/api-system.ts';

type Source = { docId: string; chunkIndex: number; text: string; title: string | null };
type Step = { status?: string; method?: string; reason?: string; filters?: Record<string, string>; variants?: string[]; candidates?: number };
type LlmStep = { model: string; citations: { cited: number[]; removed: number[] }; finishReason?: string; completionTokens?: number };
type RagBody = { answer: string; mode: string; sources: Source[]; steps: { selfQuery: Step; expansion: Step; rerank: Step; search: { filter: Record<string, string> | null }; llm?: LlmStep } };

const CORPUS = resolve(import.meta.dirname, '../../demo/corpus');
const DOCS = readdirSync(CORPUS).filter((f) => f.endsWith('.json')).flatMap((f) => JSON.parse(readFileSync(join(CORPUS, f), 'utf8')) as Array<Record<string, unknown>>);

/** Every [n] / [n, m] marker in a text, as numbers. */
function citedNumbers(text: string): number[] {
  return [...text.matchAll(/\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\]/g)].flatMap((m) => m[1]!.split(',').map((n) => Number(n.trim())));
}

/**
 * Every LLM step of RAG on the real local model (SmolLM2-135M-Instruct, in-process), over the demo
 * corpus. A 135M model is weak: the assertions are what must hold for any model — filters it extracts
 * are ones the question names, an answer cites only sources it was given, a step that fails says why.
 */
describeWith(LOCAL_LLM_NEED, 'RAG on the local model', () => {
  let h: ApiHarness;
  beforeAll(async () => {
    // short answers keep the suite quick; the budget itself is tested in the adapter suite
    // no judge: its background generations would share the model with the answers these tests time
    h = await startApiHarness({ config: { llmGguf: LOCAL_LLM_GGUF, llmGpu: 'cpu', llmThreads: 1, llmAnswerTokens: 96, judgeSample: 0 } });
    const res = await h.app.inject({ method: 'POST', url: '/v1/content', payload: { items: DOCS } });
    expect(res.statusCode).toBe(202);
    const ids = (res.json() as { ids: string[] }).ids;
    await h.system.start();
    await waitFor('the demo corpus to be indexed', async () => (await h.system.index.documentVersions(ids)).size === ids.length, 60_000);
  }, 120_000);
  afterAll(async () => { await h?.close(); });

  const ask = async (payload: Record<string, unknown>): Promise<RagBody> => {
    const res = await h.app.inject({ method: 'POST', url: '/v1/rag/query', payload });
    expect(res.statusCode, res.body.slice(0, 300)).toBe(200);
    return res.json() as RagBody;
  };

  it('/readyz says the answers come from the local model, and how it runs', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/readyz' });
    const models = (res.json() as { models: Record<string, Record<string, unknown>> }).models;
    expect(models['answers']).toBe('llm');
    expect(models['llm']).toMatchObject({ id: `local:${LOCAL_LLM_MODEL_ID}`, kind: 'local', source: `TRIBUTARY_LLM_GGUF=${LOCAL_LLM_GGUF}`, local: { gpu: 'cpu', concurrency: 1, threads: 1 } });
    expect(models['embedder']).toMatchObject({ kind: 'hashing' });
  });

  it('self-query: a question naming a known author yields that author\'s filter, extracted by the model', async () => {
    for (const [question, author] of [
      ['What did Maya Okafor write about consumer rebalancing?', 'Maya Okafor'],
      ['posts by Priya Raman about embeddings', 'Priya Raman'],
      ['How does Lars Henriksen handle schema evolution?', 'Lars Henriksen'],
    ] as const) {
      const body = await ask({ query: question, expand: false, rerank: false, k: 3 });
      expect(body.steps.selfQuery, question).toMatchObject({ status: 'applied', method: 'llm', filters: { author } });
      expect(body.steps.search.filter).toMatchObject({ author });
      // every source is the author's: the filter reached the index
      const authors = new Set(body.sources.map((s) => DOCS.find((d) => d['title'] === s.title || String(d['content']).includes(s.text.slice(-60)))?.['author']));
      expect([...authors], question).toEqual([author]);
    }
  });

  it('self-query never invents a filter the question does not name', async () => {
    const body = await ask({ query: 'How should offsets be committed after a sink write?', expand: false, rerank: false, k: 3 });
    expect(body.steps.selfQuery).toMatchObject({ status: 'skipped', reason: 'no known author or category found in the question' });
    expect(body.steps.search.filter).toBeNull();
  });

  it('a streamed answer cites only the sources it was given, and the text streamed is the answer', async () => {
    const url = await h.app.listen({ host: '127.0.0.1', port: 0 });
    const res = await fetch(`${url}/v1/rag/query`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: 'Why do consumer groups rebalance, and how do you stop rebalance storms?', stream: true, k: 4 }),
    });
    expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
    const events = parseSse(await res.text());
    const sources = (events.find((e) => e.event === 'sources')!.data as { sources: Source[] }).sources;
    const deltas = events.filter((e) => e.event === 'delta').map((e) => (e.data as { text: string }).text);
    const done = events.at(-1)!;
    expect(done.event).toBe('done');
    const body = done.data as RagBody;
    expect(body.mode).toBe('llm');
    expect(deltas.length).toBeGreaterThan(1);
    expect(deltas.join('')).toBe(body.answer);
    expect(sources.length).toBeGreaterThan(0);
    for (const n of citedNumbers(body.answer)) expect(n, `[${n}] in: ${body.answer}`).toBeGreaterThanOrEqual(1);
    for (const n of citedNumbers(body.answer)) expect(n, `[${n}] in: ${body.answer}`).toBeLessThanOrEqual(sources.length);
    const llm = body.steps.llm!;
    expect(llm.model).toBe(`local:${LOCAL_LLM_MODEL_ID}`);
    expect([...new Set(citedNumbers(body.answer))].sort()).toEqual([...llm.citations.cited].sort());
    for (const n of llm.citations.removed) expect(n < 1 || n > sources.length).toBe(true);
    expect(llm.completionTokens).toBeGreaterThan(0);
    expect(['stop', 'length']).toContain(llm.finishReason);
  });

  it('expansion and rerank on the small model: applied with usable output, or skipped saying why — never garbage', async () => {
    const body = await ask({ query: 'How do I keep a vector index in sync with MongoDB?', k: 4 });
    const { expansion, rerank } = body.steps;
    if (expansion.status === 'applied') {
      expect(expansion.variants![0]).toBe('How do I keep a vector index in sync with MongoDB?');
      expect(expansion.variants!.length).toBeGreaterThan(1);
      for (const v of expansion.variants!) expect(v.trim().length).toBeGreaterThan(0);
    } else {
      expect(expansion.reason).toMatch(/LLM/);
    }
    if (rerank.status === 'applied') expect(rerank).toMatchObject({ method: 'llm', candidates: expect.any(Number) });
    else expect(rerank.reason).toMatch(/kept the retrieval order/);
    // the answer's sources are distinct chunks, in the order reported
    const keys = body.sources.map((s) => `${s.docId}#${s.chunkIndex}`);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('a client that leaves mid-answer stops the generation (the model\'s slot is free for the next question)', async () => {
    const url = await h.app.listen({ host: '127.0.0.1', port: 0 }).catch(() => `http://127.0.0.1:${(h.app.server.address() as { port: number }).port}`);
    const ac = new AbortController();
    const before = h.system.localLlm!.stats.tokensGenerated;
    const res = await fetch(`${url}/v1/rag/query`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, signal: ac.signal,
      body: JSON.stringify({ query: 'Explain everything about Kafka consumer groups in detail.', stream: true, expand: false, selfQuery: false, rerank: false }),
    });
    await readUntil(res, 'event: delta');
    ac.abort();
    const gateway = h.system.gateway!;
    const model = h.system.localLlm!;
    await waitFor('the local model slot to be released', async () => gateway.status()[0]!.inFlight === 0 && model.stats.running === 0, 5_000, 20);
    // the generation is over, not running on unseen: no token is made after the slot came back
    const made = model.stats.tokensGenerated;
    await new Promise((r) => setTimeout(r, 300));
    expect(model.stats).toMatchObject({ tokensGenerated: made, running: 0, waiting: 0 });
    // it stopped where the client left (a few tokens), not at the end of its 96-token budget
    expect(made - before).toBeLessThan(30);
    const next = await ask({ query: 'What is consumer lag?', expand: false, selfQuery: false, rerank: false, k: 2 });
    expect(next.mode).toBe('llm');
  });
});
