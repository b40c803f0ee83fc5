import { afterEach, describe, expect, it } from 'vitest';
import { APIError } from 'openai';
import { hashApiKey } from '../../api/auth/api-key-config.ts';
import { startProxyHarness, type ProxyHarness } from './harness.ts';

const INFER = 'trb_infer_abcdefabcdefabcdef';
const TOKENS = 'trb_tokens_abcdefabcdefabcdef';
const QUERY = 'trb_query_abcdefabcdefabcdef';

describe('inference proxy behind API keys', () => {
  let h: ProxyHarness;
  afterEach(async () => { await h?.close(); });

  it('needs a key with the inference scope; the SDK sends it as a Bearer token', async () => {
    h = await startProxyHarness({
      upstreams: [{ name: 'gpu-a', apiKey: 'sk-upstream' }],
      config: { apiKeys: [{ name: 'app', sha256: hashApiKey(INFER), scopes: ['inference'] }, { name: 'reader', sha256: hashApiKey(QUERY), scopes: ['query'] }] },
    });
    const msg = { model: 'm', messages: [{ role: 'user' as const, content: 'hi' }] };
    const anon = await h.client({ apiKey: 'wrong' }).chat.completions.create(msg).catch((e: unknown) => e) as APIError;
    expect(anon).toBeInstanceOf(APIError);
    expect(anon.status).toBe(401);
    const reader = await h.client({ apiKey: QUERY }).chat.completions.create(msg).catch((e: unknown) => e) as APIError;
    expect(reader.status).toBe(403);
    expect(reader.message).toContain('"inference" scope');
    const ok = await h.client({ apiKey: INFER }).chat.completions.create(msg);
    expect(ok.choices[0]!.message.content).toContain('gpu-a-t0');
    // the client's key never reaches the upstream, whose own key is used
    for (const r of h.upstreams[0]!.requests) expect(r.headers.authorization).toBe('Bearer sk-upstream');
    expect(h.upstreams[0]!.count()).toBe(1);
  });

  it('per-key token rate, counted from upstream usage (plain and streamed with include_usage): 429 once spent', async () => {
    // each answer uses 10 prompt + 5 completion = 15 tokens; the key may use 40 per minute
    h = await startProxyHarness({
      upstreams: [{ name: 'gpu-a', tokens: 5 }],
      config: { apiKeys: [{ name: 'metered', sha256: hashApiKey(TOKENS), scopes: ['inference'], tokensPerMinute: 40 }] },
    });
    const client = h.client({ apiKey: TOKENS });
    const msg = { model: 'm', messages: [{ role: 'user' as const, content: 'hi' }] };
    await client.chat.completions.create(msg); // 25 left
    const s = await client.chat.completions.create({ ...msg, stream: true, stream_options: { include_usage: true } });
    for await (const _ of s) { /* drain */ } // 10 left
    await client.chat.completions.create(msg); // -5: in debt
    const refused = await client.chat.completions.create(msg).catch((e: unknown) => e) as APIError;
    expect(refused.status).toBe(429);
    expect(Number(refused.headers?.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(refused.message).toContain('40 tokens per minute');
    expect(h.upstreams[0]!.count()).toBe(3);
    // GET /v1/models is not metered by tokens
    const models = await fetch(`${h.url}/v1/models`, { headers: { authorization: `Bearer ${TOKENS}` } });
    expect(models.status).toBe(200);
  });
});
