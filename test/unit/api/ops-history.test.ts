import pino from 'pino';
import { Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { LagRow } from '../../../api/services/lag.ts';
import { bucketDelta, estimateQuantile, OpsHistory, readBuckets, summariseLag } from '../../../api/services/ops-history.ts';

const silent = pino({ level: 'silent' });
const histogram = (buckets: number[]) => new Histogram({ name: 'h', help: 'h', buckets, registers: [new Registry()] });

describe('ops history', () => {
  it('estimates quantiles from cumulative buckets as histogram_quantile does', () => {
    const b = [{ le: 0.1, count: 10 }, { le: 1, count: 90 }, { le: 10, count: 100 }, { le: Infinity, count: 100 }];
    expect(estimateQuantile(b, 0.05)).toBeCloseTo(0.05); // half of the first bucket, from 0
    expect(estimateQuantile(b, 0.5)).toBeCloseTo(0.1 + 0.9 * (40 / 80));
    expect(estimateQuantile(b, 0.99)).toBeCloseTo(1 + 9 * (9 / 10));
    // in the +Inf bucket: the largest finite bound
    expect(estimateQuantile([{ le: 1, count: 1 }, { le: Infinity, count: 5 }], 0.99)).toBe(1);
    expect(estimateQuantile([{ le: 1, count: 0 }, { le: Infinity, count: 0 }], 0.5)).toBeNull();
    expect(estimateQuantile([], 0.5)).toBeNull();
  });

  it('takes quantiles of the observations between two readings, and starts over after a reset', async () => {
    const h = histogram([0.1, 1, 10]);
    for (let i = 0; i < 100; i++) h.observe(5);
    const before = await readBuckets(h);
    for (let i = 0; i < 10; i++) h.observe(0.05);
    const delta = bucketDelta(before, await readBuckets(h));
    expect(delta.at(-1)!.count).toBe(10);
    expect(estimateQuantile(delta, 0.99)).toBeLessThanOrEqual(0.1); // the older 5 s observations are not in it
    const reset = histogram([0.1, 1, 10]);
    reset.observe(0.5);
    expect(bucketDelta(before, await readBuckets(reset)).at(-1)!.count).toBe(1);
  });

  it('sums lag per group and per group and topic, with the worst status', () => {
    const row = (group: string, topic: string, partition: number, lag: number, status: LagRow['status'], lagSeconds: number | null): LagRow =>
      ({ group, topic, partition, committed: 0, end: lag, lag, lagSeconds, status });
    expect(summariseLag([row('embed', 't1', 0, 3, 'OK', 1), row('embed', 't1', 1, 4, 'STALL', 7.5), row('embed', 't2', 0, 1, 'WARN', 2), row('clean', 'c', 0, 0, null, null)])).toEqual([
      { group: 'embed', lag: 8, maxLagSeconds: 7.5, status: 'STALL', topics: [{ topic: 't1', lag: 7 }, { topic: 't2', lag: 1 }] },
      { group: 'clean', lag: 0, maxLagSeconds: null, status: null, topics: [{ topic: 'c', lag: 0 }] },
    ]);
  });

  it('keeps samples for its retention only, and serves those after a time', async () => {
    let now = 1_000_000;
    const pipeline = histogram([1]);
    const probe = histogram([1]);
    const history = new OpsHistory({ lag: async () => [], freshness: { pipeline, probe }, logger: silent, now: () => now }, { intervalMs: 1000, retentionMs: 3000 });
    for (let i = 0; i < 5; i++) {
      pipeline.observe(0.5);
      await history.sample();
      now += 1000;
    }
    const kept = history.since();
    expect(kept.map((s) => s.atMs)).toEqual([1_002_000, 1_003_000, 1_004_000]);
    expect(kept.every((s) => s.freshness.pipeline.count === 1 && s.freshness.pipeline.p50 === 0.5 && s.freshness.probe.p50 === null)).toBe(true);
    expect(history.since(1_003_000).map((s) => s.atMs)).toEqual([1_004_000]);
  });

  it('survives a lag it cannot read: no sample, and sampling goes on', async () => {
    let fail = true;
    const history = new OpsHistory({
      lag: async () => { if (fail) throw new Error('log down'); return []; },
      freshness: { pipeline: histogram([1]), probe: histogram([1]) }, logger: silent,
    });
    expect(await history.sample()).toBeNull();
    fail = false;
    expect(await history.sample()).not.toBeNull();
    expect(history.since()).toHaveLength(1);
  });
});
