import { afterEach, describe, expect, it } from 'vitest';
import { InferenceLlm } from '../../inference/inference-llm.ts';
import { parseSse } from '../helpers/api-system.ts';
import { startProxyHarness, type ProxyHarness } from './harness.ts';

describe('RAG through the inference proxy (TRIBUTARY_LLM_UPSTREAM)', () => {
  let h: ProxyHarness;
  afterEach(async () => { await h?.close(); });

  it('answers /v1/rag/query with an upstream model, plain and streamed, sharing the proxy\'s upstreams', async () => {
    h = await startProxyHarness({ upstreams: [{ name: 'gpu-a', models: ['llama'], tokens: 4 }], config: { llmUpstream: 'llama' } });
    expect(h.system.llm?.id).toBe('inference:llama');
    const res = await fetch(`${h.url}/v1/rag/query`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: 'what is tributary?', rerank: false }) });
    expect(res.status).toBe(200);
    const body = await res.json() as { mode: string; answer: string; steps: { llm: { model: string } } };
    expect(body.mode).toBe('llm');
    expect(body.answer).toBe('gpu-a-t0 gpu-a-t1 gpu-a-t2 gpu-a-t3 ');
    expect(body.steps.llm.model).toBe('inference:llama');
    const streamed = await fetch(`${h.url}/v1/rag/query`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: 'what is tributary?', stream: true, expand: false, rerank: false }) });
    const events = parseSse(await streamed.text());
    expect(events.filter((e) => e.event === 'delta').map((e) => (e.data as { text: string }).text).join('')).toBe('gpu-a-t0 gpu-a-t1 gpu-a-t2 gpu-a-t3 ');
    expect(events.at(-1)!.event).toBe('done');
    expect(h.upstreams[0]!.requests.every((r) => r.path === '/v1/chat/completions' || r.path === '/v1/models')).toBe(true);
  });

  it('the Llm port over the gateway throws (never ends quietly) when the upstream stream breaks', async () => {
    h = await startProxyHarness({ upstreams: [{ name: 'gpu-a', models: ['llama'], tokens: 6 }], config: { llmUpstream: 'llama' } });
    const llm = new InferenceLlm({ gateway: h.system.gateway!, model: 'llama', contextTokens: 4096 });
    h.upstreams[0]!.failNext({ kind: 'cut', afterChunks: 2 });
    const pieces: string[] = [];
    await expect((async () => { for await (const p of llm.stream([{ role: 'user', content: 'q' }])) pieces.push(p); })()).rejects.toMatchObject({ code: 'LLM_UNAVAILABLE' });
    expect(pieces).toEqual(['gpu-a-t0 ', 'gpu-a-t1 ']);
    h.upstreams[0]!.failNext({ kind: 'status', status: 400 });
    await expect(llm.chat([{ role: 'user', content: 'q' }])).rejects.toMatchObject({ code: 'LLM_REJECTED', upstreamStatus: 400 });
    const ok = await llm.chat([{ role: 'user', content: 'q' }], { maxTokens: 5 });
    expect(ok).toEqual({ text: 'gpu-a-t0 gpu-a-t1 gpu-a-t2 gpu-a-t3 gpu-a-t4 gpu-a-t5 ', usage: { promptTokens: 10, completionTokens: 6 }, finishReason: 'stop' });
    expect(h.upstreams[0]!.requests.at(-1)!.body).toMatchObject({ model: 'llama', max_tokens: 5, stream: false });
    expect(h.system.gateway!.status()[0]!.inFlight).toBe(0);
  });
});
