import OpenAI from 'openai';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWith } from '../helpers/ci.ts';
import { LOCAL_LLM_GGUF, LOCAL_LLM_MODEL_ID, LOCAL_LLM_NEED } from '../helpers/local-llm.ts';
import { startProxyHarness, sleep, type ProxyHarness } from './harness.ts';

const MODEL = LOCAL_LLM_MODEL_ID;

/**
 * The local model behind the inference proxy: no GPU server, only the GGUF file. The official SDK
 * talks to Tributary's /v1 exactly as it would to a remote upstream.
 */
describeWith(LOCAL_LLM_NEED, 'the inference proxy serves the local model', () => {
  let h: ProxyHarness;
  let sdk: OpenAI;
  beforeAll(async () => {
    h = await startProxyHarness({ upstreams: [], config: { llmGguf: LOCAL_LLM_GGUF, llmGpu: 'cpu', llmThreads: 1, metricsEnabled: true } });
    sdk = h.client();
  }, 60_000);
  afterAll(async () => { await h?.close(); });

  it('lists the local model in GET /v1/models', async () => {
    const models = await sdk.models.list();
    expect(models.data.map((m) => m.id)).toEqual([MODEL]);
  });

  it('answers a chat completion (not streamed) with usage and a finish reason', async () => {
    const res = await sdk.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'Name three colours.' }], max_tokens: 12, temperature: 0 });
    expect(res.object).toBe('chat.completion');
    expect(res.model).toBe(MODEL);
    expect(res.choices[0]!.message.content!.length).toBeGreaterThan(0);
    expect(res.usage!.completion_tokens).toBeGreaterThan(0);
    expect(res.usage!.completion_tokens).toBeLessThanOrEqual(12);
    expect(['stop', 'length']).toContain(res.choices[0]!.finish_reason);
  });

  it('streams a completion to the SDK: the same text as unstreamed (greedy), a finish reason, the usage chunk when asked', async () => {
    const messages = [{ role: 'user' as const, content: 'Name three animals.' }];
    const whole = await sdk.chat.completions.create({ model: MODEL, messages, max_tokens: 16, temperature: 0 });
    const stream = await sdk.chat.completions.create({ model: MODEL, messages, max_tokens: 16, temperature: 0, stream: true, stream_options: { include_usage: true } });
    let text = '';
    let chunks = 0;
    let finish: string | null = null;
    let usage: OpenAI.CompletionUsage | null | undefined = null;
    for await (const c of stream) {
      chunks++;
      text += c.choices[0]?.delta?.content ?? '';
      finish = c.choices[0]?.finish_reason ?? finish;
      if (c.usage && c.choices.length === 0) usage = c.usage;
    }
    expect(chunks).toBeGreaterThan(3);
    expect(text).toBe(whole.choices[0]!.message.content);
    expect(finish).toBe(whole.choices[0]!.finish_reason);
    expect(usage!.completion_tokens).toBe(whole.usage!.completion_tokens);
  });

  it('honours response_format json_schema (structured outputs) while decoding', async () => {
    const res = await sdk.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'system', content: 'Extract search filters as JSON.' }, { role: 'user', content: 'posts by Maya Okafor about rebalancing' }],
      max_tokens: 60,
      temperature: 0,
      response_format: { type: 'json_schema', json_schema: { name: 'filters', schema: { type: 'object', properties: { author: { type: ['string', 'null'] }, category: { enum: ['article', 'post', null] } }, required: ['author', 'category'] } } },
    });
    expect(JSON.parse(res.choices[0]!.message.content!)).toEqual({ author: 'Maya Okafor', category: 'post' });
  });

  it('refuses a field it would not honour (400 naming it), and endpoints it does not serve', async () => {
    const err = await sdk.chat.completions.create({
      model: MODEL, messages: [{ role: 'user', content: 'hi' }], max_tokens: 4,
      tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }],
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect((err as Error).message).toMatch(/does not support: tools/);
    const emb = await sdk.embeddings.create({ model: MODEL, input: 'x' }).catch((e: unknown) => e);
    expect(emb).toBeInstanceOf(OpenAI.NotFoundError);
    expect((emb as Error).message).toMatch(/serves \/v1\/chat\/completions only/);
  });

  it('a prompt too long for the model is a 400 before any byte, not a broken stream', async () => {
    const err = await sdk.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'word '.repeat(20_000) }], max_tokens: 4, stream: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect((err as Error).message).toMatch(/prompt is about \d+ tokens/);
  });

  it('a client that disconnects mid-stream stops the generation: the slot is free at once and the next request is not queued behind it', async () => {
    const ac = new AbortController();
    const before = h.system.localLlm!.stats.tokensGenerated;
    const stream = await sdk.chat.completions.create(
      { model: MODEL, messages: [{ role: 'user', content: 'Write a very long story about the sea, in many paragraphs.' }], max_tokens: 2000, stream: true },
      { signal: ac.signal },
    );
    let n = 0;
    // (the SDK ends the iteration quietly, or throws, when its request is aborted)
    await (async () => {
      for await (const _ of stream) if (++n === 5) ac.abort();
    })().catch(() => undefined);
    expect(n).toBe(5);
    // the gateway released the slot (in flight 0) and nothing waits: the generation is over, not running on in the background
    const model = h.system.localLlm!;
    for (let i = 0; i < 50 && (h.system.gateway!.status()[0]!.inFlight > 0 || model.stats.running > 0); i++) await sleep(20);
    expect(h.system.gateway!.status()[0]).toMatchObject({ name: 'local', inFlight: 0, queued: 0, state: 'closed' });
    // and the model stopped: no token is made after the slot came back
    const made = model.stats.tokensGenerated;
    await sleep(300);
    expect(model.stats).toMatchObject({ tokensGenerated: made, running: 0 });
    expect(made - before).toBeLessThan(30);
    // one generation at a time: had the abandoned one (up to 2000 tokens, ~40 s here) run on, this would wait behind it
    const started = performance.now();
    const res = await sdk.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'Say hi.' }], max_tokens: 4 });
    expect(res.usage!.completion_tokens).toBeGreaterThan(0);
    expect(performance.now() - started).toBeLessThan(15_000);
    const metrics = await (await fetch(`${h.url}/metrics`)).text();
    expect(metrics).toMatch(/tributary_inference_requests_total\{[^}]*upstream="local"[^}]*outcome="client_abort"[^}]*\} 1/);
  });
});
