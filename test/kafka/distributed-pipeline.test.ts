import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { documentIdFor } from '../../schemas/ids.ts';
import { DlqHeaders, Topics, WAREHOUSE_COLLECTION, WAREHOUSE_DB } from '../../schemas/topics.ts';
import { loadConfig } from '../../wiring/config.ts';
import { api, type RunningSystem } from '../e2e/harness.ts';
import { assertIndexExact, makeItem, type Item } from '../helpers/index-expectations.ts';
import { QDRANT_URL, qdrantTarget } from '../helpers/index-target.ts';
import { MONGODB_URL } from '../helpers/mongodb.ts';
import { describeKafka } from '../setup/kafka-env.ts';
import { kafkaEnv, resetKafka, sleep, startApi, startCdc, startConsumer, testLog, waitUntil, type Proc } from './harness.ts';

/**
 * The whole distributed pipeline, every part a process of its own and a real server: MongoDB
 * (MONGODB_URL, a replica set) → `tributary cdc` (the change-stream relay) → Kafka → `consume clean`
 * → `consume embed` → Qdrant (QDRANT_URL). Publish, update and delete through the API while the
 * relay and the embed consumer are killed with -9 and restarted; a document another application
 * writes straight into the collection that is not a content item lands in the DLQ with its reason.
 * At the end the index is compared point by point with what was published (read back through
 * Qdrant's own API), and no consumer process wrote a file. Runs where both servers are reachable
 * (the GitHub workflow); no MongoDB with change streams and no Qdrant run on the development machine.
 */

const DIM = loadConfig({}).hashingDimension;
const missing = [...(MONGODB_URL ? [] : ['MONGODB_URL (a replica set)']), ...(QDRANT_URL ? [] : ['QDRANT_URL'])];

describeKafka('Distributed pipeline: MongoDB → cdc → Kafka → clean → embed → Qdrant, kill -9 of the relay and the embed consumer', (brokers) => {
  const target = qdrantTarget(QDRANT_URL ?? '');
  const log = testLog(brokers);
  const dirs: string[] = [];
  const procs: Proc[] = [];
  let apiProc: RunningSystem | null = null;
  const dir = () => { const d = mkdtempSync(join(tmpdir(), 'tributary-dist-')); dirs.push(d); return d; };

  beforeAll(async () => {
    await resetKafka(brokers);
    const c = new MongoClient(MONGODB_URL!);
    await c.db(WAREHOUSE_DB).dropDatabase().catch(() => undefined);
    await c.close();
  });
  afterEach(async () => {
    await Promise.all(procs.splice(0).map((p) => p.kill9()));
    if (apiProc) { await apiProc.kill9(); apiProc = null; }
  });
  afterAll(async () => {
    await log.close();
    await target.cleanup();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('publish, update, delete with the relay and the embed consumer killed: the index ends exact; a foreign invalid document goes to the DLQ', async () => {
    const env = kafkaEnv(brokers, { ...target.env(), MONGODB_URL: MONGODB_URL!, TRIBUTARY_BATCH_MAX_RECORDS: '50' });
    const apiDir = dir();
    apiProc = await startApi(apiDir, env);
    let cdc = await startCdc(dir(), env);
    const clean = await startConsumer('clean', dir(), env);
    let embed = await startConsumer('embed', dir(), env);
    procs.push(cdc, clean, embed);

    const idOf = (i: number) => documentIdFor('dist', `doc-${i}`);
    const expected = new Map<string, Item | null>();
    const N = 600;
    const writer = (async () => {
      for (let i = 0; i < N; i += 50) {
        const items = Array.from({ length: 50 }, (_, j) => makeItem(i + j, 0, 'dist'));
        const r = await api(apiProc!.url, 'POST', '/v1/content', { items });
        expect(r.status).toBe(202);
        items.forEach((it, j) => expected.set(idOf(i + j), it));
        for (const k of Array.from({ length: 50 }, (_, j) => i + j).filter((x) => x % 5 === 0)) {
          const upd = makeItem(k, 1, 'dist');
          expect((await api(apiProc!.url, 'POST', '/v1/content', upd)).status).toBe(202);
          expected.set(idOf(k), upd);
        }
        for (const k of Array.from({ length: 50 }, (_, j) => i + j).filter((x) => x % 11 === 3)) {
          expect((await api(apiProc!.url, 'DELETE', `/v1/content/${idOf(k)}`)).status).toBe(202);
          expected.set(idOf(k), null);
        }
        await sleep(150);
      }
    })();

    for (let kill = 0; kill < 3; kill++) {
      await sleep(800 + Math.floor(Math.random() * 600));
      await cdc.kill9();
      cdc = await startCdc(dir(), env);
      procs.push(cdc);
      await sleep(400 + Math.floor(Math.random() * 400));
      await embed.kill9();
      embed = await startConsumer('embed', dir(), env);
      procs.push(embed);
    }
    await writer;

    // another application writes a document that is not a content item (no author)
    const c = new MongoClient(MONGODB_URL!);
    await c.db(WAREHOUSE_DB).collection<{ _id: string; category: string; content: string }>(WAREHOUSE_COLLECTION).insertOne({ _id: 'foreign-bad', category: 'post', content: 'written by another app' });
    await c.close();

    const want = new Map([...expected].filter(([, v]) => v !== null) as Array<[string, Item]>);
    await waitUntil('the index holds exactly what was published', async () => {
      try { await assertIndexExact(target, apiDir, DIM, want); return true; } catch { return false; }
    }, 180_000, 1000);
    await waitUntil('the foreign document reached the DLQ', async () => (await log.offsets(Topics.dlq)).some((p) => p.end > 0), 60_000, 500);
    const dlq = [];
    for (const p of await log.offsets(Topics.dlq)) dlq.push(...await log.read(Topics.dlq, p.partition, p.start, 100));
    expect(dlq.map((r) => [r.headers[DlqHeaders.stage], r.headers[DlqHeaders.errorCode]])).toEqual([['clean', 'SCHEMA_VIOLATION']]);
    expect(dlq[0]!.headers[DlqHeaders.errorMessage]).toContain('author');

    for (const p of procs.splice(0).filter((x) => x.alive)) expect(await p.stop(), `${p.name} exit code`).toBe(0);
    expect(await apiProc.stop()).toBe(0);
    apiProc = null;
    await assertIndexExact(target, apiDir, DIM, want);
    // no process but the API needs a directory: with MongoDB, Kafka and Qdrant nothing is on disk anywhere
    for (const d of dirs) expect(readdirSync(d), d).toEqual([]);
  });
}, { toRun: missing.length > 0 ? `set ${missing.join(' and ')}` : null, inCi: 'skip' });
