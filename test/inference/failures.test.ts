import { afterEach, describe, expect, it } from 'vitest';
import { APIError } from 'openai';
import { rendezvousOrder } from '../../inference/balancer.ts';
import { startProxyHarness, type ProxyHarness } from './harness.ts';

const chatBody = (extra: Record<string, unknown> = {}) => JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }], ...extra });

/** The session key's first choice among the harness's upstreams, and the other one. */
function primaryFor(h: ProxyHarness, key: string) {
  const order = rendezvousOrder(key, h.upstreams);
  return { primary: order[0]!, secondary: order[1]! };
}

describe('failure semantics', () => {
  let h: ProxyHarness;
  afterEach(async () => { await h?.close(); });

  it('fails over to another upstream before the first byte: 5xx, connection reset, reset after headers', async () => {
    h = await startProxyHarness({ upstreams: [{ name: 'gpu-a' }, { name: 'gpu-b' }] });
    const { primary, secondary } = primaryFor(h, 'sess-1');
    const client = h.client({ headers: { 'x-session-id': 'sess-1' } });
    for (const failure of [{ kind: 'status', status: 500 }, { kind: 'reset' }, { kind: 'reset-after-headers' }] as const) {
      primary.failNext(failure);
      const before = { p: primary.count(), s: secondary.count() };
      const stream = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }], stream: true });
      let text = '';
      for await (const c of stream) text += c.choices[0]?.delta?.content ?? '';
      expect(text, failure.kind).toContain(`${secondary.name}-t0`);
      expect(text).not.toContain(primary.name);
      expect(primary.count() - before.p, failure.kind).toBe(1);
      expect(secondary.count() - before.s, failure.kind).toBe(1);
    }
  });

  it('retries the same upstream when it is the only one, and passes on its last error when attempts run out', async () => {
    h = await startProxyHarness({ upstreams: [{ name: 'gpu-a' }], config: { inferenceMaxAttempts: 2, inferenceEjectAfterFailures: 10 } });
    const [u] = h.upstreams;
    u!.failNext({ kind: 'reset' });
    const ok = await h.client().chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }] });
    expect(ok.choices[0]!.message.content).toContain('gpu-a-t0');
    expect(u!.count()).toBe(2);
    u!.failNext({ kind: 'reset' }, { kind: 'reset' });
    const res = await fetch(`${h.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: chatBody() });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
    expect(await res.json()).toMatchObject({ error: { code: 'INFERENCE_UNAVAILABLE' } });
  });

  it('an upstream killed mid-stream: the SDK throws, the raw stream carries an error event and no [DONE]', async () => {
    h = await startProxyHarness({ upstreams: [{ name: 'gpu-a', tokens: 8 }] });
    const [u] = h.upstreams;
    u!.failNext({ kind: 'cut', afterChunks: 3 });
    const stream = await h.client().chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }], stream: true });
    let text = '';
    const err = await (async () => {
      for await (const c of stream) text += c.choices[0]?.delta?.content ?? '';
    })().then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(APIError);
    expect(String((err as Error).message)).toMatch(/failed mid-answer|INFERENCE_STREAM_BROKEN|reset/);
    expect(text).toBe('gpu-a-t0 gpu-a-t1 gpu-a-t2 ');

    // cut right behind the first chunk: the failure lands while the proxy is between the first byte and piping
    u!.failNext({ kind: 'cut', afterChunks: 1 });
    const early = await h.client().chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }], stream: true });
    let earlyText = '';
    await expect((async () => { for await (const c of early) earlyText += c.choices[0]?.delta?.content ?? ''; })()).rejects.toThrow();
    expect(earlyText).toBe('gpu-a-t0 ');

    u!.failNext({ kind: 'cut', afterChunks: 2 });
    const res = await fetch(`${h.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: chatBody({ stream: true }) });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    let raw = '';
    const end = await (async () => {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return 'clean end';
        raw += Buffer.from(value).toString('utf8');
      }
    })().catch((e: unknown) => `unclean: ${(e as Error).message}`);
    expect(end).toMatch(/^unclean/);
    expect(raw).toContain('data: {"error":{"code":"INFERENCE_STREAM_BROKEN"');
    expect(raw).not.toContain('[DONE]');
  });

  it('an upstream that ends the stream without [DONE] is an error too, never a normal end', async () => {
    h = await startProxyHarness({ upstreams: [{ name: 'gpu-a', tokens: 8 }] });
    h.upstreams[0]!.failNext({ kind: 'end-early', afterChunks: 2 });
    const stream = await h.client().chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }], stream: true });
    await expect((async () => { for await (const _ of stream) { /* drain */ } })()).rejects.toThrow(/without \[DONE\]/);
  });

  it('a client abort reaches the upstream within 100 ms, and frees the slot', async () => {
    h = await startProxyHarness({ upstreams: [{ name: 'gpu-a', tokens: 200, tokenDelayMs: 20 }] });
    const [u] = h.upstreams;
    const ac = new AbortController();
    const stream = await h.client().chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }], stream: true }, { signal: ac.signal });
    const aborted = u!.nextAbort();
    let n = 0;
    let abortedAt = 0;
    await (async () => {
      for await (const _ of stream) {
        if (++n === 3) {
          abortedAt = performance.now();
          ac.abort();
        }
      }
    })().catch(() => undefined);
    const seenAt = await aborted;
    expect(seenAt - abortedAt).toBeLessThan(100);
    const gateway = h.system.gateway!;
    await expect.poll(() => gateway.status()[0]!.inFlight, { timeout: 2000 }).toBe(0);
  });

  it('a client that leaves while queued is dropped from the queue and never reaches the upstream', async () => {
    h = await startProxyHarness({ upstreams: [{ name: 'gpu-a', tokens: 100, tokenDelayMs: 10, maxConcurrency: 1, maxQueue: 4 }] });
    const [u] = h.upstreams;
    const gateway = h.system.gateway!;
    const holder = new AbortController();
    const first = fetch(`${h.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: chatBody({ stream: true }), signal: holder.signal });
    await expect.poll(() => u!.activeStreams).toBe(1);
    const waiter = new AbortController();
    const second = fetch(`${h.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: chatBody({ stream: true }), signal: waiter.signal }).catch(() => null);
    await expect.poll(() => gateway.status()[0]!.queued).toBe(1);
    waiter.abort();
    await second;
    await expect.poll(() => gateway.status()[0]!.queued).toBe(0);
    holder.abort();
    await first.catch(() => null);
    await expect.poll(() => gateway.status()[0]!.inFlight).toBe(0);
    expect(u!.count()).toBe(1);
  });

  it('first-byte timeout: 504 TIMEOUT well before the upstream would have answered', async () => {
    h = await startProxyHarness({ upstreams: [{ name: 'gpu-a' }], config: { inferenceFirstByteTimeoutMs: 150, inferenceMaxAttempts: 1 } });
    h.upstreams[0]!.failNext({ kind: 'hang', ms: 3000 });
    const t0 = performance.now();
    const res = await fetch(`${h.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: chatBody() });
    expect(res.status).toBe(504);
    expect((await res.json() as { error: { code: string } }).error.code).toBe('TIMEOUT');
    expect(performance.now() - t0).toBeLessThan(2000);
  });

  it('idle timeout mid-stream: the client gets an error event instead of waiting forever', async () => {
    h = await startProxyHarness({ upstreams: [{ name: 'gpu-a', tokens: 5, tokenDelayMs: 1500 }], config: { inferenceIdleTimeoutMs: 200 } });
    const stream = await h.client().chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }], stream: true });
    const t0 = performance.now();
    await expect((async () => { for await (const _ of stream) { /* drain */ } })()).rejects.toThrow(/idle_timeout/);
    expect(performance.now() - t0).toBeLessThan(1200);
  });
});
