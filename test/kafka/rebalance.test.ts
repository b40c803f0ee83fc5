import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { documentIdFor } from '../../schemas/ids.ts';
import { api, type RunningSystem } from '../e2e/harness.ts';
import { describeKafka } from '../setup/kafka-env.ts';
import { assertIndexExact, makeItem, type Item } from '../helpers/index-expectations.ts';
import { consumerDirs, indexTargets } from '../helpers/index-target.ts';
import { caughtUp, kafkaEnv, resetKafka, sleep, startApi, startConsumer, startSlowEmbeddings, testLog, waitUntil, type Proc, type SlowEmbeddings } from './harness.ts';

/**
 * Rebalance under load: a second `embed` process joins the group mid-stream (the partitions are
 * split between the two), then leaves it (SIGTERM: its in-flight batch finishes and commits, it
 * leaves the group, the first one takes every partition back); then a third joins and is killed
 * with SIGKILL (its partitions come back after its session expires, its in-flight batch is redone).
 * Embedding is slow (an endpoint with latency) and batches are small, so rebalances land while
 * batches are in flight and while fetched records are still waiting in a member's queue. Documents
 * are updated several times while partitions move, so a batch lost, redone out of order or applied
 * from a stale owner would leave a document missing or a stale version behind. The index must end
 * exact: nothing lost, no stale chunks.
 */

const N = 3_000;
const DIM = 32;

interface AssignedEvent { event?: string; partitions?: string[] }
const assignments = (p: Proc) => p.events().filter((e): e is AssignedEvent & Record<string, unknown> => e['event'] === 'kafka.consumer.assigned').map((e) => e.partitions ?? []);
const batches = (p: Proc) => p.events().filter((e) => e['event'] === 'stage.batch' && Number(e['records']) > 0).length;

for (const { kind, make: makeTarget, need } of indexTargets()) describeKafka(`Kafka mode: rebalancing the embed consumer group (${kind} index)`, (brokers) => {
  const target = makeTarget();
  const dirs = consumerDirs(target, () => dataDir);
  let dataDir: string;
  let apiProc: RunningSystem | null = null;
  const procs: Proc[] = [];
  const log = testLog(brokers);
  let embeddings: SlowEmbeddings;

  beforeAll(async () => {
    await resetKafka(brokers);
    dataDir = mkdtempSync(join(tmpdir(), 'tributary-kafka-rebalance-'));
    embeddings = await startSlowEmbeddings({ dimension: DIM, latencyMs: 25 });
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

  it('embed consumers join and leave mid-stream (one stops cleanly, one is killed): no loss, no stale chunks', async () => {
    const env = kafkaEnv(brokers, {
      ...target.env(),
      TRIBUTARY_BATCH_MAX_RECORDS: '8',
      TRIBUTARY_EMBEDDER: 'openai', TRIBUTARY_EMBED_BASE_URL: embeddings.baseUrl, TRIBUTARY_EMBED_MODEL: 'slow-test',
      TRIBUTARY_EMBED_DIMENSION: String(DIM), TRIBUTARY_EMBED_MAX_BATCH: '16',
    });
    apiProc = await startApi(dataDir, env);
    const clean = await startConsumer('clean', dirs.next(), env);
    const embed1 = await startConsumer('embed', dirs.next(), { ...env, TRIBUTARY_LOG_LEVEL: 'debug' });
    procs.push(clean, embed1);

    const idOf = (i: number) => documentIdFor('rebalance', `doc-${i}`);
    const expected = new Map<string, Item>();
    const writer = (async () => {
      for (let i = 0; i < N; i += 60) {
        const items = Array.from({ length: 60 }, (_, j) => makeItem(i + j, 0, 'rebalance'));
        const r = await api(apiProc!.url, 'POST', '/v1/content', { items });
        expect(r.status).toBe(202);
        items.forEach((it, j) => expected.set(idOf(i + j), it));
        // revisions 1 and 2 of earlier documents while partitions move
        if (i >= 300) {
          for (const rev of [1, 2]) {
            const upd = Array.from({ length: 60 }, (_, j) => i - 300 + j).filter((k) => k % 3 === 0).map((k) => ({ k, item: makeItem(k, rev, 'rebalance') }));
            const u = await api(apiProc!.url, 'POST', '/v1/content', { items: upd.map((x) => x.item) });
            expect(u.status).toBe(202);
            for (const x of upd) expected.set(idOf(x.k), x.item);
          }
        }
        await sleep(250);
      }
    })();

    await sleep(4_000);
    const embed2 = await startConsumer('embed', dirs.next(), { ...env, TRIBUTARY_LOG_LEVEL: 'debug' });
    procs.push(embed2);
    // the group splits the four partitions between the two members, and the newcomer does work
    await waitUntil('the second member owns partitions', () => assignments(embed2).some((a) => a.length > 0), 30_000);
    await waitUntil('the first member gave some up', () => assignments(embed1).some((a) => a.length > 0 && a.length < 4), 30_000);
    await waitUntil('the second member processed batches', () => batches(embed2) > 0, 30_000);
    await sleep(4_000);
    expect(await embed2.stop(), 'the second member stops cleanly').toBe(0);
    await waitUntil('the first member owns every partition again', () => assignments(embed1).at(-1)?.length === 4, 30_000);

    // a third member joins, works, and dies without leaving
    const embed3 = await startConsumer('embed', dirs.next(), { ...env, TRIBUTARY_LOG_LEVEL: 'debug' });
    procs.push(embed3);
    await waitUntil('the third member owns partitions', () => assignments(embed3).some((a) => a.length > 0), 30_000);
    await waitUntil('the third member is mid-batch', () => batches(embed3) > 0 && embeddings.inFlight > 0, 30_000, 2);
    await embed3.kill9();
    await waitUntil('the first member owns every partition again (after the session expired)', () => assignments(embed1).at(-1)?.length === 4, 30_000);
    await writer;

    await waitUntil('the pipeline caught up', () => caughtUp(log, dataDir), 120_000, 250);
    expect(batches(embed2)).toBeGreaterThan(0);
    for (const p of procs.splice(0).filter((x) => x.alive)) expect(await p.stop(), `${p.name} exit code`).toBe(0);
    expect(await apiProc.stop()).toBe(0);
    apiProc = null;
    expect(expected.size).toBe(N);
    dirs.expectEmpty();
    await assertIndexExact(target, dataDir, DIM, expected);
  });
}, need);
