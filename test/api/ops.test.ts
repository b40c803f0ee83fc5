import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { toDlqRecord } from '../../consumers/runtime/dlq.ts';
import type { LogRecord } from '../../ports/event-log.ts';
import type { GroupLagStatus } from '../../schemas/lag-status.ts';
import { CDC_TOPIC, DlqHeaders, Groups, Topics } from '../../schemas/topics.ts';
import { startApiHarness, waitFor, type ApiHarness } from '../helpers/api-system.ts';

type LagRow = { group: string; topic: string; partition: number; committed: number; end: number; lag: number; lagSeconds: number | null; status: string | null };
type DlqEntry = { offset: number; stage: string; code: string; sourceTopic: string; sourceOffset: number; key: string | null; valuePreview: string | null; pending: boolean; firstSeenMs: number };
type ErrorBody = { error: { code: string; details?: Array<{ path: string; message: string }> } };

describe('ops API', () => {
  let h: ApiHarness;
  beforeEach(async () => { h = await startApiHarness(); });
  afterEach(async () => { await h.close(); });

  const lag = async () => {
    const res = await h.app.inject({ method: 'GET', url: '/v1/ops/lag' });
    expect(res.statusCode).toBe(200);
    return (res.json() as { groups: LagRow[] }).groups;
  };

  it('reports lag for every partition of the consumers\' topics, from 0 before anything is committed, then catching up', async () => {
    await h.app.inject({ method: 'POST', url: '/v1/content', payload: { items: [1, 2, 3, 4, 5].map((i) => ({ category: 'post', author: `a${i}`, content: `post number ${i}` })) } });
    const ends = await h.system.log.offsets(CDC_TOPIC);
    const total = ends.reduce((n, p) => n + p.end, 0);
    expect(total).toBe(5);

    const before = await lag();
    const clean = before.filter((r) => r.group === Groups.clean);
    expect(clean.map((r) => r.partition).sort()).toEqual(ends.map((p) => p.partition).sort());
    for (const r of clean) {
      // no evaluation yet (the lag monitor starts with the consumers): seconds and status unknown
      expect(r).toEqual({
        group: Groups.clean, topic: CDC_TOPIC, partition: r.partition, committed: 0, end: ends.find((p) => p.partition === r.partition)!.end,
        lag: ends.find((p) => p.partition === r.partition)!.end, lagSeconds: null, status: null,
      });
    }
    expect(before.filter((r) => r.group === Groups.embed).every((r) => r.topic === Topics.cleaned && r.committed === 0)).toBe(true);

    await h.system.start();
    const after = await waitFor('clean and embed to catch up', async () => {
      const rows = await lag();
      const mine = rows.filter((r) => r.group === Groups.clean || r.group === Groups.embed);
      return mine.length > 0 && mine.every((r) => r.lag === 0) && mine.some((r) => r.group === Groups.embed && r.end > 0) ? rows : null;
    });
    expect(after.filter((r) => r.group === Groups.clean).reduce((n, r) => n + r.committed, 0)).toBe(5);
  });

  it('adds lag in seconds and the Burrow status from the lag monitor, and exports them to Prometheus', async () => {
    await h.app.inject({ method: 'POST', url: '/v1/content', payload: { category: 'post', author: 'a', content: 'one post' } });
    // the monitor evaluates before any consumer ran: the record waits, its age is measured
    await h.system.lagMonitor!.tick();
    const waiting = (await lag()).filter((r) => r.group === Groups.clean && r.lag > 0);
    expect(waiting).toHaveLength(1);
    expect(waiting[0]!.status).toBe('OK'); // one snapshot: too early to judge a trend, and no commit to call stopped
    expect(waiting[0]!.lagSeconds).toBeGreaterThanOrEqual(0);
    expect(waiting[0]!.lagSeconds).toBeLessThan(30);

    await h.system.start();
    await waitFor('the pipeline to catch up', async () => {
      const rows = (await lag()).filter((r) => r.group === Groups.clean || r.group === Groups.embed);
      return rows.every((r) => r.lag === 0) && rows.some((r) => r.group === Groups.embed && r.end > 0);
    });
    await h.system.lagMonitor!.tick();
    const rows = (await lag()).filter((r) => r.group === Groups.clean || r.group === Groups.embed);
    for (const r of rows) expect(r).toMatchObject({ lag: 0, lagSeconds: 0, status: 'OK' });

    const metrics = await h.app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.body).toMatch(/tributary_consumer_lag_status\{group="clean",topic="tributary\.cdc\.tributary\.documents",partition="\d+"\} 0/);
    expect(metrics.body).toMatch(/tributary_consumer_lag_seconds\{group="embed",topic="tributary\.content\.cleaned",partition="\d+"\} 0/);
    expect(metrics.body).toMatch(/tributary_consumer_group_status\{group="embed"\} 0/);
  });

  it('serves the status another process published on tributary.ops.lag when no monitor runs here', async () => {
    const published: GroupLagStatus = {
      group: 'elsewhere', status: 'STALL', evaluatedAtMs: Date.now(), totalLag: 3, maxLagSeconds: 12.5, intervalMs: 5000, windowSize: 10,
      partitions: [{ topic: 'test.elsewhere', partition: 0, committed: 1, end: 4, lag: 3, lagSeconds: 12.5, status: 'STALL', reason: 'stuck', complete: 1 }],
    };
    await h.system.log.append(Topics.opsLag, [{ key: 'elsewhere', value: await h.system.codec.encode(Topics.opsLag, published) }]);
    await h.system.log.ensureTopics([{ name: 'test.elsewhere', partitions: 1, compacted: false, retentionMs: -1 }]);
    await h.system.log.append('test.elsewhere', [1, 2, 3, 4].map((i) => ({ key: `k${i}`, value: Buffer.from('{}') })));
    await h.system.log.commit('elsewhere', 'test.elsewhere', 0, 1);
    const row = (await lag()).find((r) => r.group === 'elsewhere')!;
    expect(row).toMatchObject({ committed: 1, end: 4, lag: 3, lagSeconds: 12.5, status: 'STALL' });
    // once caught up, nothing waits: 0 s, whatever the last evaluation said
    await h.system.log.commit('elsewhere', 'test.elsewhere', 0, 4);
    expect((await lag()).find((r) => r.group === 'elsewhere')).toMatchObject({ lag: 0, lagSeconds: 0, status: 'STALL' });
  });

  async function deadLetter(stage: string, value: string, key: string, firstSeenMs = Date.now()): Promise<void> {
    const original: LogRecord = { topic: CDC_TOPIC, partition: 0, offset: 7, key, value: Buffer.from(value), headers: { traceparent: '00-abc-def-01' }, timestamp: Date.now() };
    await h.system.log.append(Topics.dlq, [toDlqRecord(original, { stage, code: 'MALFORMED_EVENT', message: `bad ${key}`, attempts: 1, firstSeenMs })]);
  }

  it('lists DLQ entries, filtered by stage and limited', async () => {
    await deadLetter('clean', '{not json', 'k1');
    await deadLetter('embed', '{"x":1}', 'k2');
    await deadLetter('clean', '{still not json', 'k3');

    const all = (await h.app.inject({ method: 'GET', url: '/v1/ops/dlq' })).json() as { entries: DlqEntry[] };
    expect(all.entries.map((e) => e.key)).toEqual(['k1', 'k2', 'k3']);
    expect(all.entries[0]).toMatchObject({ stage: 'clean', code: 'MALFORMED_EVENT', sourceTopic: CDC_TOPIC, sourceOffset: 7, valuePreview: '{not json', pending: true });

    const clean = (await h.app.inject({ method: 'GET', url: '/v1/ops/dlq?stage=clean' })).json() as { entries: DlqEntry[] };
    expect(clean.entries.map((e) => e.key)).toEqual(['k1', 'k3']);
    const last = (await h.app.inject({ method: 'GET', url: '/v1/ops/dlq?limit=1' })).json() as { entries: DlqEntry[] };
    expect(last.entries.map((e) => e.key)).toEqual(['k3']);
  });

  it('replays DLQ entries to their source topic with the original bytes, once', async () => {
    await deadLetter('clean', '{not json', 'k1');
    await deadLetter('embed', '{"x":1}', 'k2');
    await deadLetter('clean', '{still not json', 'k3', Date.now() + 60_000);
    const cdcEnd = async () => (await h.system.log.offsets(CDC_TOPIC)).reduce((n, p) => n + p.end, 0);
    expect(await cdcEnd()).toBe(0);

    const first = await h.app.inject({ method: 'POST', url: '/v1/ops/dlq/replay', payload: { stage: 'clean', limit: 1 } });
    expect(first.statusCode).toBe(200);
    expect(first.json()).toEqual({ replayed: 1, skipped: 0 });
    expect(await cdcEnd()).toBe(1);

    // the replayed record: same key and bytes, DLQ headers stripped, other headers kept
    const parts = await h.system.log.offsets(CDC_TOPIC);
    const p = parts.find((x) => x.end > 0)!;
    const [rec] = await h.system.log.read(CDC_TOPIC, p.partition, 0, 1);
    expect(rec!.key).toBe('k1');
    expect(Buffer.from(rec!.value!).toString()).toBe('{not json');
    expect(rec!.headers).toEqual({ traceparent: '00-abc-def-01' });
    expect(Object.keys(rec!.headers).some((k) => Object.values(DlqHeaders).includes(k as never))).toBe(false);

    const list = (await h.app.inject({ method: 'GET', url: '/v1/ops/dlq' })).json() as { entries: DlqEntry[] };
    expect(list.entries.map((e) => [e.key, e.pending])).toEqual([['k1', false], ['k2', true], ['k3', true]]);

    // sinceMs leaves out the older entries
    const since = (await h.app.inject({ method: 'POST', url: '/v1/ops/dlq/replay', payload: { sinceMs: Date.now() + 30_000 } })).json();
    expect(since).toEqual({ replayed: 1, skipped: 0 });
    const rest = (await h.app.inject({ method: 'POST', url: '/v1/ops/dlq/replay', payload: {} })).json();
    expect(rest).toEqual({ replayed: 1, skipped: 0 }); // k2 (embed); k1 and k3 are done
    const again = (await h.app.inject({ method: 'POST', url: '/v1/ops/dlq/replay', payload: {} })).json();
    expect(again).toEqual({ replayed: 0, skipped: 0 });
    expect(await cdcEnd()).toBe(3);
  });

  it('names each bad field', async () => {
    for (const [url, expected] of [['/v1/ops/dlq?limit=0', ['limit']], ['/v1/ops/dlq?limit=abc', ['limit']], ['/v1/ops/dlq?stage=bad%20stage&x=1', ['stage', 'x']]] as const) {
      const res = await h.app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(400);
      expect((res.json() as ErrorBody).error.details!.map((d) => d.path).sort(), url).toEqual(expected);
    }
    for (const [payload, expected] of [[{ limit: 'x' }, ['limit']], [{ sinceMs: -1, stage: 5 }, ['sinceMs', 'stage']], [{ everything: true }, ['everything']]] as const) {
      const res = await h.app.inject({ method: 'POST', url: '/v1/ops/dlq/replay', payload });
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
      expect((res.json() as ErrorBody).error.details!.map((d) => d.path).sort()).toEqual(expected);
    }
    const notJson = await h.app.inject({ method: 'POST', url: '/v1/ops/dlq/replay', payload: '[', headers: { 'content-type': 'application/json' } });
    expect(notJson.statusCode).toBe(400);
    // "replay everything pending" is `{}`: no body at all is a mistake, not a request
    const noBody = await h.app.inject({ method: 'POST', url: '/v1/ops/dlq/replay' });
    expect(noBody.statusCode).toBe(400);
    expect((noBody.json() as ErrorBody).error.details).toEqual([{ path: 'body', message: 'is required' }]);
    // a number in the query must be written as one ("" is not 0)
    const emptyLimit = await h.app.inject({ method: 'GET', url: '/v1/ops/dlq?limit=' });
    expect(emptyLimit.statusCode).toBe(400);
    expect((emptyLimit.json() as ErrorBody).error.details).toEqual([{ path: 'limit', message: expect.any(String) }]);
  });
});
