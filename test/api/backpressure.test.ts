import { afterEach, describe, expect, it } from 'vitest';
import { startApiHarness, waitFor, type ApiHarness } from '../helpers/api-system.ts';

const doc = (i: number) => ({ category: 'post', author: 'a', content: `document number ${i} about partitions`, source: 'bp', externalId: `d-${i}` });

describe('back-pressure on POST /v1/content', () => {
  let h: ApiHarness | null = null;
  afterEach(async () => { await h?.close(); h = null; });

  it('past TRIBUTARY_INGEST_MAX_BACKLOG waiting change events a write is refused with 429 and Retry-After, writes nothing, and is taken again once the pipeline drained', async () => {
    h = await startApiHarness({ config: { ingestMaxBacklog: 10 } });
    const api = h;
    const post = (items: unknown[]) => api.app.inject({ method: 'POST', url: '/v1/content', payload: { items } });
    // the pipeline is not started: what is written waits
    const first = await post(Array.from({ length: 8 }, (_, i) => doc(i)));
    expect(first.statusCode).toBe(202);
    const [firstId] = (first.json() as { ids: string[] }).ids;
    // under the limit when admitted (8 ≤ 10): taken, and now the backlog is over it
    expect((await post([doc(8), doc(9), doc(10)])).statusCode).toBe(202);
    const refused = await post([doc(11)]);
    expect(refused.statusCode).toBe(429);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(refused.json()).toMatchObject({ error: { code: 'INGEST_BACKLOG_FULL', message: expect.stringMatching(/11 change events waiting, over the limit of 10 \(TRIBUTARY_INGEST_MAX_BACKLOG\)/) } });
    expect(await api.system.store.count()).toBe(11);
    // a delete is never refused: a producer can always take content down
    expect((await api.app.inject({ method: 'DELETE', url: `/v1/content/${firstId}` })).statusCode).toBe(202);
    expect(await api.system.store.count()).toBe(10);
    await api.system.start();
    await waitFor('the pipeline to drain and the write to be taken', async () => (await post([doc(11)])).statusCode === 202, 20_000, 100);
    expect(await api.system.store.count()).toBe(11);
  });

  it('0 turns the limit off', async () => {
    h = await startApiHarness({ config: { ingestMaxBacklog: 0 } });
    const api = h;
    for (let b = 0; b < 3; b++) {
      const res = await api.app.inject({ method: 'POST', url: '/v1/content', payload: { items: Array.from({ length: 20 }, (_, i) => doc(b * 20 + i)) } });
      expect(res.statusCode).toBe(202);
    }
  });
});
