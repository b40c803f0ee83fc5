import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, describe, expect, it } from 'vitest';
import { startApiHarness, waitFor, type ApiHarness } from '../../helpers/api-system.ts';

/**
 * The embedded pipeline runs off the API's event loop (wiring/pipeline-threads.ts): with this thread
 * blocked, a document written before still gets cleaned, chunked, embedded and indexed.
 */

const article = (i: number) => ({ category: 'article', author: 'ann', title: `Doc ${i}`, content: `# Doc ${i}\n\nKafka partitions and consumer groups, marker${i}word. `.repeat(20), source: 't', externalId: `doc-${i}` });

/** Blocks this thread (no event loop turn) until the index file holds `docId`, or `ms` pass; true if it did. */
function blockUntilIndexed(dir: string, docId: string, ms: number): boolean {
  const db = new DatabaseSync(join(dir, 'index.db'), { readOnly: true });
  try {
    const st = db.prepare('SELECT 1 FROM doc_versions WHERE doc_id = ? AND deleted = 0');
    const end = Date.now() + ms;
    while (Date.now() < end) if (st.get(docId)) return true;
    return false;
  } finally {
    db.close();
  }
}

describe('pipeline threads', () => {
  let h: ApiHarness | null = null;
  afterEach(async () => { await h?.close(); h = null; });

  it('a document is indexed while the API thread is blocked: the stages run in threads of their own, woken by the write itself', async () => {
    h = await startApiHarness({ config: { partitions: 1 } });
    await h.system.start();
    const [res] = await h.system.store.put([article(1)]);
    // no event-loop turn from here on in this thread
    expect(blockUntilIndexed(h.dir, res!.id, 15_000)).toBe(true);
  });

  it('with TRIBUTARY_PIPELINE_THREADS=off the stages share the API thread: blocked, nothing is indexed', async () => {
    h = await startApiHarness({ config: { partitions: 1, pipelineThreads: 'off' } });
    await h.system.start();
    const [res] = await h.system.store.put([article(2)]);
    expect(blockUntilIndexed(h.dir, res!.id, 1_500)).toBe(false);
    const api = h;
    await waitFor('indexed once the thread is free', async () => (await api.system.index.documentVersions([res!.id])).get(res!.id)?.version != null);
  });

  it('the threads\' counters count in /metrics, consumers report running once; a consumer stopped in its thread is reported stopped and stops consuming', async () => {
    h = await startApiHarness({ config: { partitions: 1, metricsEnabled: true } });
    const api = h;
    await api.system.start();
    const [a] = await api.system.store.put([article(3)]);
    await waitFor('indexed', async () => (await api.system.index.documentVersions([a!.id])).get(a!.id)?.version != null);
    const chunks = await api.system.index.count();
    const metrics = (await api.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toMatch(new RegExp(`tributary_chunks_indexed_total ${chunks}\\n`));
    expect(metrics).toMatch(/tributary_stage_records_total\{stage="clean",outcome="ok"\} 1\n/);
    expect(metrics).toMatch(/tributary_consumer_running\{consumer="embed"\} 1\n/);

    await api.system.consumers.find((c) => c.name === 'embed')!.stop();
    expect(api.system.consumers.find((c) => c.name === 'embed')!.status).toMatchObject({ running: false });
    const ready = await api.app.inject({ method: 'GET', url: '/readyz' });
    expect(ready.json()).toMatchObject({ status: 'not_ready', notRunning: ['embed'] });
    const [b] = await api.system.store.put([article(4)]);
    await new Promise((r) => setTimeout(r, 500));
    expect((await api.system.index.documentVersions([b!.id])).get(b!.id)).toBeUndefined();
  });
});
