import { afterEach, describe, expect, it } from 'vitest';
import { parseSse, startApiHarness, waitFor, type ApiHarness } from '../helpers/api-system.ts';
import type { RagTrace } from '../../schemas/trace.ts';
import { runCli } from '../cli/helpers.ts';

/**
 * RAG traces on the real embedded system: every RAG response writes one trace to
 * tributary.rag.traces, the API serves them from its view (GET /v1/traces, /v1/traces/:id), feedback
 * joins its trace by traceId, a cache hit is its own trace naming the one it came from, and a view
 * lost with its file is rebuilt from the topic.
 */

describe('RAG traces', () => {
  let h: ApiHarness | null = null;
  afterEach(async () => { await h?.close(); h = null; });

  it('records each answer step by step, serves it, joins its feedback, and marks a cache hit', async () => {
    h = await startApiHarness();
    await h.system.start();
    await h.app.inject({ method: 'POST', url: '/v1/content', payload: { items: [
      { category: 'article', author: 'Ada', title: 'Quorum', content: 'Zorblax replicates its ledger with quorum writes to three zones.' },
      { category: 'post', author: 'Bob', content: 'Sourdough needs a lively starter.' },
    ] } });
    await waitFor('indexed', async () => (await h!.system.index.count()) >= 2);

    const ask = async (payload: Record<string, unknown>) => (await h!.app.inject({ method: 'POST', url: '/v1/rag/query', payload: { query: 'How does Zorblax replicate its ledger?', ...payload } })).json() as { traceId: string; answer: string; sources: Array<{ docId: string }> };
    const first = await ask({ mode: 'hybrid' });
    const hit = await ask({ mode: 'hybrid' });
    const list = (await h.app.inject({ method: 'GET', url: '/v1/traces?limit=10' })).json() as { traces: RagTrace[] };
    expect(list.traces.map((t) => t.traceId)).toEqual([hit.traceId, first.traceId]);
    const t = list.traces[1]!;
    expect(t).toMatchObject({
      query: 'How does Zorblax replicate its ledger?', mode: 'hybrid', answer: first.answer, answerMode: 'extractive', model: null,
      prompt: { templateId: 'rag-answer', templateVersion: 1, tokens: null, text: null }, cache: { hit: false },
      expandedQueries: ['How does Zorblax replicate its ledger?'],
    });
    expect(t.retrieved.length).toBeGreaterThan(0);
    expect(t.retrieved[0]).toMatchObject({ docId: first.sources[0]!.docId, chunkIndex: 0 });
    expect(t.sources.map((s) => s.docId)).toEqual(first.sources.map((s) => s.docId));
    expect(t.latencyMs.total).toBeGreaterThan(0);
    expect(t.latencyMs.total).toBeGreaterThanOrEqual(t.latencyMs.search);
    expect(list.traces[0]!.cache).toEqual({ hit: true, cachedTraceId: first.traceId });

    // feedback joins its trace
    expect((await h.app.inject({ method: 'POST', url: '/v1/feedback', payload: { traceId: first.traceId, rating: 'down', correction: 'Quorum writes across three zones.' } })).statusCode).toBe(202);
    const one = (await h.app.inject({ method: 'GET', url: `/v1/traces/${first.traceId}` })).json() as { trace: RagTrace; feedback: Array<{ rating: string; correction: string }> };
    expect(one.trace.traceId).toBe(first.traceId);
    expect(one.feedback).toEqual([expect.objectContaining({ rating: 'down', correction: 'Quorum writes across three zones.' })]);
    expect((await h.app.inject({ method: 'GET', url: '/v1/traces/nope-nope' })).statusCode).toBe(404);

    // since: only newer ones; a streamed answer is traced too
    const streamed = await h.app.inject({ method: 'POST', url: '/v1/rag/query', payload: { query: 'sourdough starter', stream: true } });
    const done = parseSse(streamed.body).find((e) => e.event === 'done')!.data as { traceId: string };
    const since = (await h.app.inject({ method: 'GET', url: `/v1/traces?since=${encodeURIComponent(list.traces[0]!.at)}` })).json() as { traces: RagTrace[] };
    expect(since.traces.map((x) => x.traceId)).toContain(done.traceId);
    expect(since.traces.map((x) => x.traceId)).not.toContain(first.traceId);

    // the CLI lists them, oldest first
    const url = await h.app.listen({ port: 0, host: '127.0.0.1' });
    const cli = await runCli(['traces', '-n', '3'], { env: { TRIBUTARY_URL: url } });
    expect(cli.code, cli.stderr).toBe(0);
    const lines = cli.stdout.trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toContain(first.traceId);
    expect(lines[1]).toMatch(new RegExp(`${hit.traceId}.*\\(cached\\)`));
    expect(lines[2]).toContain(done.traceId);
  });

  it('TRIBUTARY_RAG_TRACES=off writes none', async () => {
    h = await startApiHarness({ config: { ragTraces: 'off' } });
    await h.system.start();
    const r = await h.app.inject({ method: 'POST', url: '/v1/rag/query', payload: { query: 'anything at all' } });
    expect(r.statusCode).toBe(200);
    const ends = await h.system.log.offsets('tributary.rag.traces');
    expect(ends.reduce((n, e) => n + e.end, 0)).toBe(0);
    expect(((await h.app.inject({ method: 'GET', url: '/v1/traces' })).json() as { traces: unknown[] }).traces).toEqual([]);
  });

  it('a lost trace view is rebuilt from the topic', async () => {
    h = await startApiHarness();
    await h.system.start();
    const r = (await h.app.inject({ method: 'POST', url: '/v1/rag/query', payload: { query: 'anything at all' } })).json() as { traceId: string };
    const dir = h.dir;
    await h.app.close();
    await h.system.close();
    const { rmSync } = await import('node:fs');
    const { join } = await import('node:path');
    for (const f of ['traces.db', 'traces.db-wal', 'traces.db-shm']) rmSync(join(dir, f), { force: true });
    h = await startApiHarness({ config: { dataDir: dir } });
    const got = await h.app.inject({ method: 'GET', url: `/v1/traces/${r.traceId}` });
    expect(got.statusCode).toBe(200);
    expect((got.json() as { trace: RagTrace }).trace.query).toBe('anything at all');
  });
});
