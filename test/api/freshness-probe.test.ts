import { afterEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { FreshnessProbe } from '../../consumers/freshness-probe/freshness-probe.ts';
import { Metrics } from '../../observability/metrics.ts';
import { packVersion } from '../../schemas/version.ts';
import { startApiHarness, waitFor, type ApiHarness } from '../helpers/api-system.ts';

/**
 * The continuous freshness probe on the real embedded system: a synthetic document rewritten every
 * interval, timed from the store write until that version is searchable, exported as a histogram
 * with the SLO; the document is in no search result, answer or dataset, and producers cannot use its
 * category.
 */

const metricValue = (text: string, name: string) => Number(text.split('\n').find((l) => l.startsWith(`${name} `))?.split(' ')[1] ?? NaN);

describe('the freshness probe', () => {
  let h: ApiHarness | null = null;
  afterEach(async () => { await h?.close(); h = null; });

  it('times each probe until searchable, exports it with the SLO, and its document appears nowhere', async () => {
    h = await startApiHarness({
      config: {
        freshnessProbeMs: 150, freshnessSloMs: 5000, metricsEnabled: true,
        finetuneDatasets: [{ name: 'all', source: 'content', threshold: 1000, launcher: { type: 'webhook', url: 'http://127.0.0.1:9/hook' } }],
      },
    });
    await h.system.start();
    await h.app.inject({ method: 'POST', url: '/v1/content', payload: { category: 'article', author: 'Ada', content: 'Zorblax replicates its ledger with quorum writes.' } });
    const metrics = async () => (await h!.app.inject({ method: 'GET', url: '/metrics' })).body;
    await waitFor('three probes', async () => metricValue(await metrics(), 'tributary_freshness_probe_seconds_count') >= 3, 20_000);
    const text = await metrics();
    expect(metricValue(text, 'tributary_freshness_slo_seconds')).toBe(5);
    expect(metricValue(text, 'tributary_freshness_probe_seconds_sum')).toBeGreaterThan(0);
    expect(metricValue(text, 'tributary_freshness_probe_seconds_sum') / metricValue(text, 'tributary_freshness_probe_seconds_count')).toBeLessThan(5);
    expect(metricValue(text, 'tributary_freshness_probe_over_slo_total')).toBe(0);

    // the probe's document is in the index (that is what it measures) …
    expect((await h.system.index.count({ category: 'tributary-probe' }))).toBe(1);
    // the probe times its own write: its author is the probe's, never a name a question would pick
    // … but in no search result, answer or dataset — even when several processes' probes crowd a query
    await h.system.store.put(Array.from({ length: 6 }, (_, i) => ({ source: 'tributary.probe', externalId: `replica-${i}`, category: 'tributary-probe', author: 'tributary.probe', content: 'Freshness probe ledger ledger ledger.' })));
    await waitFor('the other probes indexed', async () => (await h!.system.index.count({ category: 'tributary-probe' })) === 7);
    const one = (await h.app.inject({ method: 'POST', url: '/v1/search', payload: { query: 'Freshness probe ledger', mode: 'keyword', k: 1 } })).json() as { hits: Array<{ category: string }> };
    expect(one.hits.map((x) => x.category)).toEqual(['article']);
    for (const mode of ['keyword', 'hybrid', 'dense']) {
      const hits = (await h.app.inject({ method: 'POST', url: '/v1/search', payload: { query: 'Freshness probe ledger', mode, k: 10 } })).json() as { hits: Array<{ category: string }> };
      expect(hits.hits.length, mode).toBeGreaterThan(0); // the real document still comes back in dense/hybrid
      expect(hits.hits.some((x) => x.category === 'tributary-probe'), mode).toBe(false);
    }
    const rag = (await h.app.inject({ method: 'POST', url: '/v1/rag/query', payload: { query: 'Freshness probe of', k: 10 } })).json() as { sources: Array<{ text: string }> };
    expect(rag.sources.some((s) => s.text.includes('Freshness probe'))).toBe(false);
    const datasets = await waitFor('the dataset status', async () => ((await h!.app.inject({ method: 'GET', url: '/v1/finetune/datasets' })).json() as { datasets: Array<{ pending: number; total: number }> }).datasets.find((d) => d.total >= 1));
    expect(datasets).toMatchObject({ pending: 1, total: 1 }); // the one real document, not the probe's

    // producers cannot write into the probe's category
    const refused = await h.app.inject({ method: 'POST', url: '/v1/content', payload: { items: [{ category: 'article', author: 'A', content: 'x' }, { category: 'tributary-probe', author: 'A', content: 'y' }] } });
    expect(refused.statusCode).toBe(400);
    expect(refused.json()).toMatchObject({ error: { code: 'INVALID_INPUT', details: [{ path: 'items.1.category', message: 'is reserved' }] } });
  }, 60_000);
});

describe('FreshnessProbe', () => {
  it('a probe slower than the SLO burns it; one never searchable is a timeout; a failed write is counted', async () => {
    const metrics = new Metrics();
    let version = 0;
    // the index's version of the document: written with the time of the write, as the store does
    let stored = 0;
    let catchUp = true;
    const probe = new FreshnessProbe({
      store: { delete: async () => true, put: async () => { if (!catchUp && version < 0) throw new Error('store down'); await new Promise((r) => setTimeout(r, 30)); if (catchUp) stored = packVersion(Date.now(), ++version); return [{ id: 'p', outcome: 'updated' }]; } },
      index: { documentVersions: async (ids: string[]) => new Map(stored > 0 ? [[ids[0]!, { version: stored, deleted: false }]] : []) },
      metrics, logger: pino({ level: 'silent' }), intervalMs: 1000, sloMs: 10, instance: 'test', timeoutMs: 200, pollMs: 5,
    });
    expect(await probe.probeOnce()).toBeGreaterThan(0.01);
    catchUp = false;
    expect(await probe.probeOnce()).toBeNull();
    version = -1;
    expect(await probe.probeOnce()).toBeNull();
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/tributary_freshness_probe_seconds_count 1/);
    expect(text).toMatch(/tributary_freshness_probe_over_slo_total 2/);
    expect(text).toMatch(/tributary_freshness_probe_failures_total\{reason="timeout"\} 1/);
    expect(text).toMatch(/tributary_freshness_probe_failures_total\{reason="write"\} 1/);
    expect(text).toMatch(/tributary_freshness_slo_seconds 0.01/);
  });
});
