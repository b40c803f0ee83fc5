import { afterEach, describe, expect, it } from 'vitest';
import { Groups } from '../../schemas/topics.ts';
import { startApiHarness, waitFor, type ApiHarness } from '../helpers/api-system.ts';

type Sample = {
  atMs: number;
  groups: Array<{ group: string; lag: number; maxLagSeconds: number | null; status: string | null; topics: Array<{ topic: string; lag: number }> }>;
  freshness: { pipeline: { count: number; p50: number | null; p99: number | null }; probe: { count: number; p50: number | null; p99: number | null } };
};
type History = { intervalMs: number; retentionMs: number; samples: Sample[] };

describe('GET /v1/ops/history (what the /ops page charts)', () => {
  let h: ApiHarness;
  afterEach(async () => { await h.close(); });

  const history = async (query = '') => {
    const res = await h.app.inject({ method: 'GET', url: `/v1/ops/history${query}` });
    expect(res.statusCode, res.body).toBe(200);
    return res.json() as History;
  };

  it('samples lag per group and the pipeline\'s freshness quantiles per interval, while the app is open', async () => {
    h = await startApiHarness({ app: { opsHistory: { intervalMs: 50 } }, system: { lagMonitor: { intervalMs: 50, windowSize: 3 } } });
    expect((await history()).intervalMs).toBe(50);
    await h.system.start();
    await h.app.inject({ method: 'POST', url: '/v1/content', payload: { items: [1, 2, 3].map((i) => ({ category: 'post', author: 'a', content: `post ${i}` })) } });
    await waitFor('the content to be indexed', async () => (await h.system.index.count()) >= 3);
    const withFreshness = await waitFor('a sample with freshness observations', async () => (await history()).samples.find((s) => s.freshness.pipeline.count > 0));
    expect(withFreshness.freshness.pipeline.p50).toBeGreaterThan(0);
    expect(withFreshness.freshness.pipeline.p99).toBeGreaterThanOrEqual(withFreshness.freshness.pipeline.p50!);
    expect(withFreshness.freshness.probe).toEqual({ count: 0, p50: null, p99: null });

    const { samples } = await waitFor('two samples at least', async () => { const r = await history(); return r.samples.length >= 2 ? r : null; });
    const last = samples.at(-1)!;
    expect(last.groups.map((g) => g.group)).toEqual(expect.arrayContaining([Groups.clean, Groups.embed]));
    expect(last.groups.find((g) => g.group === Groups.embed)!.topics.length).toBeGreaterThan(0);
    // oldest first; `since` gives the samples after a time
    expect(samples.map((s) => s.atMs)).toEqual([...samples.map((s) => s.atMs)].sort((a, b) => a - b));
    const after = await history(`?since=${samples.at(-2)!.atMs}`);
    expect(after.samples[0]!.atMs).toBe(last.atMs);
  });

  it('names a bad `since`', async () => {
    h = await startApiHarness();
    for (const q of ['?since=-1', '?since=abc', '?since=', '?x=1']) {
      const res = await h.app.inject({ method: 'GET', url: `/v1/ops/history${q}` });
      expect(res.statusCode, q).toBe(400);
    }
  });
});
