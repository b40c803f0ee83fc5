import { describe, expect, it } from 'vitest';
import type { EmbedOptions, Embedder } from '../../../ports/embedder.ts';
import { PriorityEmbedder } from '../../../adapters/embedder/priority-embedder.ts';

/** An embedder whose calls finish only when the test says so; it records what each call held. */
function gatedEmbedder() {
  const calls: Array<{ texts: string[]; priority: string | undefined; release: () => void }> = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const inner: Embedder = {
    id: 'gated',
    capabilities: { dimension: 2, maxBatch: 1000, maxInputTokens: 1000, normalized: true },
    embed(texts: string[], _signal?: AbortSignal, options?: EmbedOptions) {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      return new Promise<Float32Array[]>((resolve) => {
        calls.push({ texts, priority: options?.priority, release: () => { inFlight--; resolve(texts.map((t) => new Float32Array([t.length, 1]))); } });
      });
    },
    close: async () => {},
  };
  return { inner, calls, maxInFlight: () => maxInFlight };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('PriorityEmbedder', () => {
  it('on a shared local model, a query waits only for the batch piece already running, then goes before the rest of the batch', async () => {
    const g = gatedEmbedder();
    const e = new PriorityEmbedder(g.inner, { shared: true, pieceSize: 2, queryConcurrency: 1, batchConcurrency: 1 });
    const batch = e.embed(['a', 'bb', 'ccc', 'dddd', 'eeeee'], undefined, { priority: 'batch' });
    await tick();
    expect(g.calls.map((c) => c.texts)).toEqual([['a', 'bb']]);
    const query = e.embed(['question'], undefined, { priority: 'query' });
    await tick();
    expect(g.calls).toHaveLength(1); // the piece in flight is not interrupted
    g.calls[0]!.release();
    await tick(); await tick();
    // next on the model: the query, not the batch's second piece
    expect(g.calls.map((c) => [c.texts, c.priority])).toEqual([[['a', 'bb'], 'batch'], [['question'], 'query']]);
    g.calls[1]!.release();
    expect((await query)[0]).toEqual(new Float32Array([8, 1]));
    for (let i = 2; i < 4; i++) {
      await tick(); await tick();
      g.calls[i]!.release();
    }
    const vectors = await batch;
    expect(vectors.map((v) => v[0])).toEqual([1, 2, 3, 4, 5]);
    expect(g.calls.slice(2).map((c) => c.texts)).toEqual([['ccc', 'dddd'], ['eeeee']]);
    expect(g.maxInFlight()).toBe(1);
    expect(e.stats().query).toMatchObject({ count: 1 });
  });

  it('on a remote endpoint, queries have their own concurrency: a query runs while every batch slot is taken', async () => {
    const g = gatedEmbedder();
    const e = new PriorityEmbedder(g.inner, { shared: false, pieceSize: 1, queryConcurrency: 2, batchConcurrency: 1 });
    const b1 = e.embed(['x'], undefined);
    const b2 = e.embed(['y'], undefined);
    await tick();
    expect(g.calls.map((c) => c.texts)).toEqual([['x']]); // one batch slot
    const q = e.embed(['q'], undefined, { priority: 'query' });
    await tick();
    expect(g.calls.map((c) => c.texts)).toEqual([['x'], ['q']]);
    g.calls[1]!.release();
    await q;
    g.calls[0]!.release();
    await tick(); await tick();
    g.calls[2]!.release();
    await Promise.all([b1, b2]);
    expect(g.calls.map((c) => c.texts)).toEqual([['x'], ['q'], ['y']]);
  });

  it('a caller that gives up while waiting leaves the queue; its texts never reach the model', async () => {
    const g = gatedEmbedder();
    const e = new PriorityEmbedder(g.inner, { shared: true, pieceSize: 4, queryConcurrency: 1, batchConcurrency: 1 });
    const first = e.embed(['a']);
    await tick();
    const ac = new AbortController();
    const waiting = e.embed(['never'], ac.signal);
    ac.abort();
    await expect(waiting).rejects.toMatchObject({ code: 'SHUTTING_DOWN' });
    g.calls[0]!.release();
    await first;
    await tick();
    expect(g.calls.map((c) => c.texts)).toEqual([['a']]);
  });

  it('refuses sizes that are not positive integers, naming them', () => {
    const g = gatedEmbedder();
    expect(() => new PriorityEmbedder(g.inner, { shared: true, pieceSize: 0, queryConcurrency: 1, batchConcurrency: 1.5 }))
      .toThrow(/pieceSize must be a positive integer, got 0; batchConcurrency must be a positive integer, got 1.5/);
  });
});
