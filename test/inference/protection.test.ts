import { afterEach, describe, expect, it } from 'vitest';
import { rendezvousOrder } from '../../inference/balancer.ts';
import { startProxyHarness, type ProxyHarness } from './harness.ts';

const post = (h: ProxyHarness, body: Record<string, unknown>, headers: Record<string, string> = {}, signal?: AbortSignal) =>
  fetch(`${h.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }], ...body }), ...(signal ? { signal } : {}) });

async function upstreamOf(res: Response): Promise<string> {
  await res.arrayBuffer();
  return res.headers.get('x-tributary-upstream') ?? '';
}

describe('overload protection, ejection, balancing', () => {
  let h: ProxyHarness;
  afterEach(async () => { await h?.close(); });

  it('a full queue answers 429 INFERENCE_OVERLOADED with Retry-After; a queue timeout 503 with Retry-After', async () => {
    h = await startProxyHarness({ upstreams: [{ name: 'gpu-a', tokens: 200, tokenDelayMs: 10, maxConcurrency: 1, maxQueue: 1, queueTimeoutMs: 300 }] });
    const gateway = h.system.gateway!;
    const ac = new AbortController();
    const holding = post(h, { stream: true }, {}, ac.signal);
    await expect.poll(() => h.upstreams[0]!.activeStreams).toBe(1);
    const queued = post(h, { stream: true });
    await expect.poll(() => gateway.status()[0]!.queued).toBe(1);
    const full = await post(h, {});
    expect(full.status).toBe(429);
    expect(full.headers.get('retry-after')).toBe('1');
    expect(await full.json()).toMatchObject({ error: { code: 'INFERENCE_OVERLOADED' } });
    const timedOut = await queued;
    expect(timedOut.status).toBe(503);
    expect(timedOut.headers.get('retry-after')).toBe('1');
    expect(await timedOut.json()).toMatchObject({ error: { code: 'INFERENCE_QUEUE_TIMEOUT' } });
    ac.abort();
    await holding.catch(() => null);
    await expect.poll(() => gateway.status()[0]!.inFlight).toBe(0);
    // the queued requests never reached the upstream
    expect(h.upstreams[0]!.count()).toBe(1);
  });

  it('a queued request gets the slot when it frees (FIFO), within the queue timeout', async () => {
    h = await startProxyHarness({ upstreams: [{ name: 'gpu-a', tokens: 5, tokenDelayMs: 30, maxConcurrency: 1, maxQueue: 4 }] });
    const all = await Promise.all([0, 1, 2].map(() => post(h, {}).then((r) => r.status)));
    expect(all).toEqual([200, 200, 200]);
  });

  it('least outstanding requests: new requests avoid the upstream busy with a long stream', async () => {
    h = await startProxyHarness({ upstreams: [{ name: 'gpu-a', tokens: 100, tokenDelayMs: 20 }, { name: 'gpu-b', tokens: 100, tokenDelayMs: 20 }] });
    const ac = new AbortController();
    const long = await post(h, { stream: true }, {}, ac.signal);
    const busy = long.headers.get('x-tributary-upstream');
    const other = busy === 'gpu-a' ? 'gpu-b' : 'gpu-a';
    for (let i = 0; i < 4; i++) expect(await upstreamOf(await post(h, { max_tokens: 5 }))).toBe(other);
    ac.abort();
  });

  it('passive ejection: a failing upstream is taken out after N failures, then recovers through health-check probes', async () => {
    h = await startProxyHarness({
      upstreams: [{ name: 'gpu-a' }, { name: 'gpu-b' }],
      config: { inferenceEjectAfterFailures: 2, inferenceEjectMs: 400, inferenceHealthIntervalMs: 100 },
    });
    const [a, b] = h.upstreams;
    const gateway = h.system.gateway!;
    const events: string[] = [];
    gateway.observe((e) => { if (e.type === 'ejected' || e.type === 'recovered') events.push(`${e.type}:${e.upstream}`); });
    a!.failNext({ kind: 'status', status: 502 }, { kind: 'status', status: 502 });
    // pin the first attempt to gpu-a with a session key that prefers it
    const key = Array.from({ length: 50 }, (_, i) => `k${i}`).find((k) => rendezvousOrder(k, h.upstreams)[0] === a)!;
    for (let i = 0; i < 2; i++) {
      const res = await post(h, {}, { 'x-session-id': key });
      expect(res.status).toBe(200);
      expect(await upstreamOf(res)).toBe('gpu-b'); // failed over
    }
    expect(events).toEqual(['ejected:gpu-a']);
    expect(gateway.status().find((s) => s.name === 'gpu-a')!.state).toBe('open');
    const aBefore = a!.count();
    for (let i = 0; i < 5; i++) expect(await upstreamOf(await post(h, {}, { 'x-session-id': key }))).toBe('gpu-b');
    expect(a!.count()).toBe(aBefore); // no traffic while ejected
    // after the cool-down a health check is the half-open probe; it succeeds and gpu-a is back
    await expect.poll(() => events, { timeout: 3000, interval: 50 }).toContain('recovered:gpu-a');
    expect(await upstreamOf(await post(h, {}, { 'x-session-id': key }))).toBe('gpu-a');
    expect(b!.count()).toBeGreaterThanOrEqual(7);
    const metrics = await (await fetch(`${h.url}/metrics`)).text();
    expect(metrics).toMatch(/tributary_inference_ejections_total\{upstream="gpu-a"\} 1/);
    expect(metrics).toMatch(/tributary_inference_errors_total\{upstream="gpu-a",model="m",kind="status_5xx"\} 2/);
    expect(metrics).toMatch(/tributary_inference_upstream_up\{upstream="gpu-a"\} 1/);
    expect(metrics).toMatch(/tributary_inference_ttft_seconds_count\{upstream="gpu-b",model="m"\} \d+/);
    expect(metrics).toMatch(/tributary_inference_queue_seconds_count\{upstream="gpu-b",model="m"\} \d+/);
    expect(metrics).toMatch(/tributary_inference_tokens_total\{upstream="gpu-b",model="m",kind="completion"\} \d+/);
  });

  it('active health checks eject an idle dead upstream; with every upstream out, 503 INFERENCE_UNAVAILABLE with Retry-After', async () => {
    h = await startProxyHarness({
      upstreams: [{ name: 'gpu-a' }],
      config: { inferenceEjectAfterFailures: 2, inferenceEjectMs: 5000, inferenceHealthIntervalMs: 50 },
    });
    const gateway = h.system.gateway!;
    h.upstreams[0]!.down = true;
    await expect.poll(() => gateway.status()[0]!.state, { timeout: 3000, interval: 25 }).toBe('open');
    const before = h.upstreams[0]!.count();
    const res = await post(h, {});
    expect(res.status).toBe(503);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(await res.json()).toMatchObject({ error: { code: 'INFERENCE_UNAVAILABLE' } });
    expect(h.upstreams[0]!.count()).toBe(before);
  });

  it('session affinity: each session stays on one upstream; taking one upstream out moves only its sessions', async () => {
    h = await startProxyHarness({
      upstreams: [{ name: 'gpu-a' }, { name: 'gpu-b' }, { name: 'gpu-c' }],
      config: { inferenceEjectAfterFailures: 1, inferenceEjectMs: 60_000 },
    });
    const sessions = Array.from({ length: 24 }, (_, i) => `user-${i}`);
    const home = new Map<string, string>();
    for (const s of sessions) {
      const seen = new Set<string>();
      for (let i = 0; i < 3; i++) seen.add(await upstreamOf(await post(h, {}, { 'x-session-id': s })));
      expect(seen.size, s).toBe(1);
      home.set(s, [...seen][0]!);
    }
    expect(new Set(home.values()).size).toBe(3);
    // gpu-c fails once and is ejected; its sessions fail over, the others don't move
    h.upstreams[2]!.down = true;
    for (const s of sessions) {
      const now = await upstreamOf(await post(h, {}, { 'x-session-id': s }));
      if (home.get(s) === 'gpu-c') expect(now).not.toBe('gpu-c');
      else expect(now, s).toBe(home.get(s));
    }
  });
});
