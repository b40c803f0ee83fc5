import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { documentIdFor } from '../../schemas/ids.ts';
import { Topics } from '../../schemas/topics.ts';
import type { RunningSystem } from '../e2e/harness.ts';
import { api } from '../e2e/harness.ts';
import { describeKafka } from '../setup/kafka-env.ts';
import { assertIndexExact, makeItem, type Item } from '../helpers/index-expectations.ts';
import { consumerDirs, indexTargets } from '../helpers/index-target.ts';
import { caughtUp, kafkaEnv, resetKafka, sleep, startApi, startConsumer, startSlowEmbeddings, testLog, waitUntil, type Proc, type SlowEmbeddings } from './harness.ts';

/**
 * Consumers as processes on a real broker, killed with SIGKILL in the middle of a batch: the embed
 * consumer is killed while one of its embedding requests is in flight (so after it fetched its
 * records and before it could commit them), ten times, during a 5,000-document stream of creates,
 * updates and deletes; the clean consumer is killed at random moments too. After the last restart
 * the index must be exactly what the writes say — every live document, all its chunks, one version,
 * nothing deleted left behind.
 */

const N = 5_000;
const DIM = 32;

for (const { kind, make: makeTarget, need } of indexTargets()) describeKafka(`Kafka mode: kill -9 consumer processes mid-batch (${kind} index)`, (brokers) => {
  const target = makeTarget();
  const dirs = consumerDirs(target, () => dataDir);
  let dataDir: string;
  let apiProc: RunningSystem | null = null;
  const procs: Proc[] = [];
  let embeddings: SlowEmbeddings;
  const log = testLog(brokers);

  beforeAll(async () => {
    await resetKafka(brokers);
    dataDir = mkdtempSync(join(tmpdir(), 'tributary-kafka-crash-'));
    embeddings = await startSlowEmbeddings({ dimension: DIM, latencyMs: 40 });
  });
  afterEach(async () => {
    await Promise.all(procs.splice(0).map((p) => p.kill9()));
    if (apiProc) { await apiProc.kill9(); apiProc = null; }
  });
  afterAll(async () => {
    await log.close();
    await embeddings.close();
    rmSync(dataDir, { recursive: true, force: true });
    dirs.remove();
    await target.cleanup();
  });

  it('10 kills of the embed consumer mid-batch (and 4 of the clean consumer) during a 5,000-document stream: the index ends exactly as expected', async () => {
    const env = kafkaEnv(brokers, {
      ...target.env(),
      TRIBUTARY_EMBEDDER: 'openai', TRIBUTARY_EMBED_BASE_URL: embeddings.baseUrl, TRIBUTARY_EMBED_MODEL: 'slow-test',
      TRIBUTARY_EMBED_DIMENSION: String(DIM), TRIBUTARY_EMBED_MAX_BATCH: '32', TRIBUTARY_BATCH_MAX_RECORDS: '40',
    });
    apiProc = await startApi(dataDir, env);
    let clean = await startConsumer('clean', dirs.next(), env);
    let embed = await startConsumer('embed', dirs.next(), env);
    procs.push(clean, embed);

    // the stream: N creates (50 per request), every 7th document updated, every 13th deleted, interleaved
    const idOf = (i: number) => documentIdFor('crash', `doc-${i}`);
    const expected = new Map<string, Item | null>();
    const ops: Array<() => Promise<void>> = [];
    for (let i = 0; i < N; i += 50) {
      const items = Array.from({ length: 50 }, (_, j) => makeItem(i + j, 0, 'crash'));
      ops.push(async () => {
        const r = await api(apiProc!.url, 'POST', '/v1/content', { items });
        if (r.status !== 202) throw new Error(`publish ${r.status}`);
        items.forEach((it, j) => expected.set(idOf(i + j), it));
      });
      if (i >= 500) {
        const upd = Array.from({ length: 50 }, (_, j) => i - 500 + j).filter((k) => k % 7 === 0).map((k) => ({ k, item: makeItem(k, 1, 'crash') }));
        ops.push(async () => {
          const r = await api(apiProc!.url, 'POST', '/v1/content', { items: upd.map((u) => u.item) });
          if (r.status !== 202) throw new Error(`update ${r.status}`);
          for (const u of upd) expected.set(idOf(u.k), u.item);
        });
        for (const k of Array.from({ length: 50 }, (_, j) => i - 500 + j).filter((x) => x % 13 === 5)) {
          ops.push(async () => {
            const r = await api(apiProc!.url, 'DELETE', `/v1/content/${idOf(k)}`);
            if (r.status !== 202) throw new Error(`delete ${r.status}`);
            expected.set(idOf(k), null);
          });
        }
      }
    }
    let writerDone = false;
    const writer = (async () => {
      // paced so that the stream lasts as long as the kills do
      for (const op of ops) { await op(); await sleep(60); }
      writerDone = true;
    })();

    let embedKills = 0; let midBatch = 0; let cleanKills = 0;
    while (embedKills < 10) {
      await sleep(300 + Math.floor(Math.random() * 700));
      // mid-batch: an embedding request of this consumer is in flight (records fetched, nothing committed)
      await waitUntil('an embedding request in flight', () => embeddings.inFlight > 0, 60_000, 2);
      if (embeddings.inFlight > 0) midBatch++;
      await embed.kill9();
      embedKills++;
      if (embedKills % 3 === 1) { await clean.kill9(); cleanKills++; }
      if (!clean.alive) { clean = await startConsumer('clean', dirs.next(), env); procs.push(clean); }
      embed = await startConsumer('embed', dirs.next(), env);
      procs.push(embed);
    }
    await writer;
    expect(writerDone).toBe(true);
    expect({ embedKills, midBatch, cleanKills }).toEqual({ embedKills: 10, midBatch: 10, cleanKills: 4 });

    await waitUntil('the pipeline caught up', () => caughtUp(log, dataDir), 180_000, 250);
    // nothing was dead-lettered: the crashes were not the records' fault
    const dlqEnd = (await log.offsets(Topics.dlq)).reduce((a, p) => a + p.end, 0);
    expect(dlqEnd).toBe(0);
    for (const p of procs.splice(0).filter((x) => x.alive)) expect(await p.stop(), `${p.name} exit code`).toBe(0);
    expect(await apiProc.stop()).toBe(0);
    apiProc = null;

    const want = new Map<string, Item>();
    for (const [id, item] of expected) if (item) want.set(id, item);
    expect(want.size).toBe(N - [...expected.values()].filter((v) => v === null).length);
    dirs.expectEmpty();
    await assertIndexExact(target, dataDir, DIM, want);
  });
}, need);
