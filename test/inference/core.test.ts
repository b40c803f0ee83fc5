import { describe, expect, it } from 'vitest';
import { leastOutstanding, pickWithAffinity, rendezvousOrder, type BalancerCandidate } from '../../inference/balancer.ts';
import { CircuitBreaker } from '../../inference/circuit-breaker.ts';
import { ConcurrencyLimiter } from '../../inference/concurrency-limiter.ts';
import { UsageScanner } from '../../inference/usage-scanner.ts';
import { TokenBucket } from '../../api/auth/token-bucket.ts';

const cand = (name: string, outstanding: number, capacity = 4, maxQueue = 4): BalancerCandidate => ({
  name, outstanding, capacity, hasFreeSlot: outstanding < capacity, full: outstanding >= capacity + maxQueue,
});

describe('circuit breaker', () => {
  it('opens after N consecutive failures, half-opens after the cool-down, closes on a good probe', () => {
    const b = new CircuitBreaker({ failureThreshold: 3, openMs: 1000, maxOpenMs: 8000 });
    expect(b.onFailure(0)).toBeNull();
    expect(b.onSuccess(1)).toBeNull(); // a success resets the count
    expect(b.onFailure(2)).toBeNull();
    expect(b.onFailure(3)).toBeNull();
    expect(b.onFailure(4)).toBe('ejected');
    expect(b.canRoute(500)).toBe(false);
    expect(b.retryAfterMs(500)).toBe(504);
    expect(b.state(1004)).toBe('half-open');
    expect(b.canRoute(1004)).toBe(true);
    expect(b.onDispatch(1004)).toBe(true);
    expect(b.canRoute(1005)).toBe(false); // one probe at a time
    expect(b.onSuccess(1100)).toBe('recovered');
    expect(b.state(1100)).toBe('closed');
  });

  it('a failed probe re-opens for twice as long, up to the maximum; a cancelled probe frees its slot', () => {
    const b = new CircuitBreaker({ failureThreshold: 1, openMs: 1000, maxOpenMs: 3000 });
    b.onFailure(0);
    b.onDispatch(1000);
    b.onProbeCancelled();
    expect(b.canRoute(1000)).toBe(true);
    b.onDispatch(1000);
    expect(b.onFailure(1001)).toBe('ejected');
    expect(b.canRoute(2999)).toBe(false);
    expect(b.canRoute(3001)).toBe(true); // 2000 ms
    b.onDispatch(3001);
    b.onFailure(3002);
    expect(b.canRoute(6001)).toBe(false);
    expect(b.canRoute(6002)).toBe(true); // capped at 3000 ms
  });
});

describe('concurrency limiter', () => {
  it('hands slots to waiters in FIFO order and fails fast when the queue is full', async () => {
    const l = new ConcurrencyLimiter({ name: 'u', max: 1, maxQueue: 2, queueTimeoutMs: 10_000 });
    await l.acquire();
    const order: number[] = [];
    const a = l.acquire().then(() => order.push(1));
    const b = l.acquire().then(() => order.push(2));
    expect(l.full).toBe(true);
    await expect(l.acquire()).rejects.toMatchObject({ code: 'INFERENCE_OVERLOADED', retryAfterMs: 1000 });
    l.release();
    l.release();
    await Promise.all([a, b]);
    expect(order).toEqual([1, 2]);
    expect(l.inFlight).toBe(1);
  });

  it('times out a waiter and forgets an aborted one', async () => {
    const l = new ConcurrencyLimiter({ name: 'u', max: 1, maxQueue: 5, queueTimeoutMs: 30 });
    await l.acquire();
    await expect(l.acquire()).rejects.toMatchObject({ code: 'INFERENCE_QUEUE_TIMEOUT' });
    const ac = new AbortController();
    const p = l.acquire(ac.signal);
    expect(l.queued).toBe(1);
    ac.abort(new Error('gone'));
    await expect(p).rejects.toThrow('gone');
    expect(l.queued).toBe(0);
    l.release();
    expect(l.inFlight).toBe(0);
  });
});

describe('balancer', () => {
  it('least outstanding relative to capacity, skipping full upstreams, rotating ties', () => {
    expect(leastOutstanding([cand('a', 3), cand('b', 1), cand('c', 2)], 0)!.name).toBe('b');
    expect(leastOutstanding([cand('a', 4, 8), cand('b', 3, 4)], 0)!.name).toBe('a');
    expect(leastOutstanding([cand('a', 8), cand('b', 8)], 0)).toBeUndefined();
    const picks = new Set([0, 1, 2].map((r) => leastOutstanding([cand('a', 0), cand('b', 0), cand('c', 0)], r)!.name));
    expect(picks.size).toBe(3);
  });

  it('rendezvous hashing: stable per key, spread over upstreams, and removing one moves only its keys', () => {
    const all = [cand('a', 0), cand('b', 0), cand('c', 0), cand('d', 0)];
    const keys = Array.from({ length: 400 }, (_, i) => `session-${i}`);
    const home = new Map(keys.map((k) => [k, rendezvousOrder(k, all)[0]!.name]));
    for (const k of keys.slice(0, 50)) expect(rendezvousOrder(k, all)[0]!.name).toBe(home.get(k));
    const counts = new Map<string, number>();
    for (const v of home.values()) counts.set(v, (counts.get(v) ?? 0) + 1);
    for (const n of ['a', 'b', 'c', 'd']) expect(counts.get(n)).toBeGreaterThan(60); // ~100 each
    const without = all.filter((c) => c.name !== 'c');
    for (const k of keys) {
      const now = rendezvousOrder(k, without)[0]!.name;
      if (home.get(k) !== 'c') expect(now).toBe(home.get(k));
    }
  });

  it('affinity spills to the next upstream only when its own has no free slot', () => {
    const key = 'conversation-42';
    const [first, second] = rendezvousOrder(key, [cand('a', 0), cand('b', 0)]);
    expect(pickWithAffinity(key, [cand('a', 0), cand('b', 0)])!.name).toBe(first!.name);
    const busy = [cand(first!.name, 4), cand(second!.name, 0)];
    expect(pickWithAffinity(key, busy)!.name).toBe(second!.name);
    const allBusy = [cand(first!.name, 5), cand(second!.name, 4)];
    expect(pickWithAffinity(key, allBusy)!.name).toBe(first!.name); // queue at home
  });
});

describe('usage scanner', () => {
  const sse = (objs: unknown[]) => objs.map((o) => `data: ${typeof o === 'string' ? o : JSON.stringify(o)}\n\n`).join('');

  it('reads include_usage from the final chunk even when lines are split across chunks', () => {
    const body = Buffer.from(sse([
      { choices: [{ index: 0, delta: { content: 'hé' } }], usage: null },
      { choices: [{ index: 0, delta: { content: 'llo' } }], usage: null },
      { choices: [], usage: { prompt_tokens: 12, completion_tokens: 2, total_tokens: 14 } },
      '[DONE]',
    ]));
    const s = new UsageScanner({ sse: true, requestBytes: 100 });
    for (let i = 0; i < body.length; i += 7) s.push(body.subarray(i, i + 7));
    expect(s.sawDone).toBe(true);
    expect(s.result()).toEqual({ promptTokens: 12, completionTokens: 2, estimated: false });
  });

  it('estimates from content events when there is no usage, and notices a missing [DONE] and error events', () => {
    const s = new UsageScanner({ sse: true, requestBytes: 40 });
    s.push(Buffer.from(sse([{ choices: [{ delta: { content: 'a' } }] }, { choices: [{ delta: { content: 'b' } }] }])));
    expect(s.sawDone).toBe(false);
    expect(s.result()).toEqual({ promptTokens: 10, completionTokens: 2, estimated: true });
    const e = new UsageScanner({ sse: true, requestBytes: 1 });
    e.push(Buffer.from(sse([{ error: { message: 'CUDA out of memory' } }])));
    expect(e.errorEvent).toBe('CUDA out of memory');
  });

  it('reads usage from the end of a JSON body', () => {
    const s = new UsageScanner({ sse: false, requestBytes: 1 });
    const body = Buffer.from(JSON.stringify({ data: [{ embedding: Array(3000).fill(0.123) }], usage: { prompt_tokens: 7, total_tokens: 7 } }));
    for (let i = 0; i < body.length; i += 1000) s.push(body.subarray(i, i + 1000));
    expect(s.result()).toEqual({ promptTokens: 7, completionTokens: 0, estimated: false });
  });
});

describe('token bucket', () => {
  it('allows bursts up to capacity, refills continuously, and lets usage charged after the fact go into debt', () => {
    const b = new TokenBucket(60, 60_000, 0); // 1 per second
    for (let i = 0; i < 60; i++) expect(b.take(1, 0).ok).toBe(true);
    const refused = b.take(1, 0);
    expect(refused).toEqual({ ok: false, retryAfterMs: 1000 });
    expect(b.take(1, 1000).ok).toBe(true);
    b.charge(100, 1000);
    expect(b.available(1000)).toBe(-60); // debt capped at one bucket
    expect(b.check(1000)).toMatchObject({ ok: false });
    expect(b.check(62_000).ok).toBe(true);
  });
});
