import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APIError } from 'openai';
import { startProxyHarness, type ProxyHarness } from './harness.ts';

describe('inference proxy: OpenAI-compatible routes through the official SDK', () => {
  let h: ProxyHarness;
  beforeAll(async () => {
    h = await startProxyHarness({
      upstreams: [
        { name: 'gpu-a', models: ['llama', 'shared'], apiKey: 'sk-upstream-secret-a', tokens: 6 },
        { name: 'gpu-b', models: ['qwen', 'shared', 'embedder'], tokens: 6 },
      ],
    });
  });
  afterAll(async () => { await h?.close(); });

  it('lists the union of the upstreams\' models', async () => {
    const ids = [];
    for await (const m of h.client().models.list()) ids.push(m.id);
    expect(ids).toEqual(['embedder', 'llama', 'qwen', 'shared']);
  });

  it('answers a chat completion from the upstream serving the model, with the upstream\'s own key', async () => {
    const res = await h.client({ apiKey: 'client-key' }).chat.completions.create({ model: 'llama', messages: [{ role: 'user', content: 'hi' }] });
    expect(res.choices[0]!.message.content).toBe('gpu-a-t0 gpu-a-t1 gpu-a-t2 gpu-a-t3 gpu-a-t4 gpu-a-t5 ');
    expect(res.usage).toMatchObject({ prompt_tokens: 10, completion_tokens: 6 });
    const seen = h.upstreams[0]!.requests.at(-1)!;
    expect(seen.path).toBe('/v1/chat/completions');
    expect(seen.headers.authorization).toBe('Bearer sk-upstream-secret-a');
    const other = await h.client({ apiKey: 'client-key' }).chat.completions.create({ model: 'qwen', messages: [{ role: 'user', content: 'hi' }] });
    expect(other.choices[0]!.message.content).toContain('gpu-b-t0');
    // an upstream without a key gets no Authorization at all (never the client's)
    expect(h.upstreams[1]!.requests.at(-1)!.headers.authorization).toBeUndefined();
  });

  it('passes the body through byte for byte, unknown fields and number spelling included', async () => {
    const raw = '{"model":"llama","messages":[{"role":"user","content":"héllo"}],"x_unknown_field":{"a":[1,2]},"seed":12345678901234567890,"temperature":0.10}';
    const res = await fetch(`${h.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: raw });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-tributary-upstream')).toBe('gpu-a');
    const body = await res.json() as { echo_unknown: unknown };
    expect(body.echo_unknown).toEqual({ a: [1, 2] });
    expect(h.upstreams[0]!.requests.at(-1)!.raw).toBe(raw);
  });

  it('streams chat deltas through the SDK, in order, ending normally', async () => {
    const stream = await h.client().chat.completions.create({ model: 'qwen', messages: [{ role: 'user', content: 'hi' }], stream: true });
    const parts: string[] = [];
    let finish: string | null = null;
    for await (const c of stream) {
      parts.push(c.choices[0]?.delta?.content ?? '');
      finish = c.choices[0]?.finish_reason ?? finish;
    }
    expect(parts.join('')).toBe('gpu-b-t0 gpu-b-t1 gpu-b-t2 gpu-b-t3 gpu-b-t4 gpu-b-t5 ');
    expect(finish).toBe('stop');
  });

  it('streams with include_usage: the usage chunk reaches the client', async () => {
    const stream = await h.client().chat.completions.create({ model: 'llama', messages: [{ role: 'user', content: 'hi' }], stream: true, stream_options: { include_usage: true } });
    let usage: unknown = null;
    for await (const c of stream) if (c.usage) usage = c.usage;
    expect(usage).toMatchObject({ prompt_tokens: 10, completion_tokens: 6, total_tokens: 16 });
  });

  it('proxies legacy completions (plain and streaming) and embeddings', async () => {
    const c = await h.client().completions.create({ model: 'qwen', prompt: 'once upon' });
    expect(c.choices[0]!.text).toContain('gpu-b-t5');
    const s = await h.client().completions.create({ model: 'qwen', prompt: 'once upon', stream: true });
    let text = '';
    for await (const chunk of s) text += chunk.choices[0]?.text ?? '';
    expect(text).toContain('gpu-b-t0');
    const e = await h.client().embeddings.create({ model: 'embedder', input: ['a', 'b'], encoding_format: 'float' });
    expect(e.data).toHaveLength(2);
    expect(h.upstreams[1]!.requests.at(-1)!.path).toBe('/v1/embeddings');
  });

  it('answers an unknown model with 404 listing the known ones', async () => {
    const err = await h.client().chat.completions.create({ model: 'gpt-nope', messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(APIError);
    expect((err as APIError).status).toBe(404);
    const res = await fetch(`${h.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"model":"gpt-nope","messages":[]}' });
    const body = await res.json() as { error: { code: string; message: string; details: { known: string[] } } };
    expect(body.error.code).toBe('UNKNOWN_MODEL');
    expect(body.error.details.known).toEqual(['embedder', 'llama', 'qwen', 'shared']);
    expect(body.error.message).toContain('llama');
  });

  it('passes an upstream 4xx through unchanged (no failover, no ejection)', async () => {
    h.upstreams[0]!.failNext({ kind: 'status', status: 400, body: { error: { message: 'max_tokens is too large', type: 'invalid_request_error', param: 'max_tokens' } } });
    const before = h.upstreams[0]!.count();
    const err = await h.client().chat.completions.create({ model: 'llama', messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e) as APIError;
    expect(err.status).toBe(400);
    expect(err.message).toContain('max_tokens is too large');
    expect(h.upstreams[0]!.count()).toBe(before + 1);
  });

  it('refuses malformed bodies with 400 naming the problem', async () => {
    const post = (body: string, ct = 'application/json') => fetch(`${h.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': ct }, body });
    const bad = await post('{"model": "llama", ');
    expect(bad.status).toBe(400);
    expect((await bad.json() as { error: { code: string } }).error.code).toBe('INVALID_INPUT');
    const noModel = await post('{"messages":[]}');
    expect(noModel.status).toBe(400);
    expect(await noModel.json()).toMatchObject({ error: { code: 'INVALID_INPUT', details: [{ path: 'model', message: 'is required' }] } });
    const arr = await post('[1,2]');
    expect(arr.status).toBe(400);
    const badStream = await post('{"model":"llama","stream":"yes"}');
    expect(badStream.status).toBe(400);
    const text = await post('hello', 'text/plain');
    expect(text.status).toBe(415);
    const bin = await fetch(`${h.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: Buffer.from([0x7b, 0xff, 0x7d]) });
    expect(bin.status).toBe(400);
    expect((await bin.json() as { error: { code: string } }).error.code).toBe('INVALID_UTF8');
  });
});

describe('inference proxy: body limit', () => {
  it('refuses an oversize body with 413 before it reaches an upstream', async () => {
    const h = await startProxyHarness({ upstreams: [{ name: 'gpu-a' }], config: { bodyLimitBytes: 2048 } });
    try {
      const big = JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'x'.repeat(4096) }] });
      const res = await fetch(`${h.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: big });
      expect(res.status).toBe(413);
      expect((await res.json() as { error: { code: string } }).error.code).toBe('PAYLOAD_TOO_LARGE');
      expect(h.upstreams[0]!.count()).toBe(0);
    } finally {
      await h.close();
    }
  });

  it('with no upstreams configured, /v1/models is empty and a completion is 404', async () => {
    const h = await startProxyHarness({ upstreams: [] });
    try {
      const list = await fetch(`${h.url}/v1/models`);
      expect(await list.json()).toEqual({ object: 'list', data: [] });
      const res = await fetch(`${h.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"model":"m"}' });
      expect(res.status).toBe(404);
    } finally {
      await h.close();
    }
  });
});
