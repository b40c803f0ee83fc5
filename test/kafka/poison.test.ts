import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import type { AppendResult, LogRecord, ProducerRecord } from '../../ports/event-log.ts';
import { publishContent } from '../../connectors/content-events/publish-content.ts';
import { describeDlqRecord } from '../../consumers/runtime/dlq.ts';
import { buildEnvelope, buildKey } from '../../schemas/change-event.ts';
import { CDC_TOPIC, DlqHeaders, Groups, Topics, WAREHOUSE_COLLECTION, WAREHOUSE_DB } from '../../schemas/topics.ts';
import { loadConfig } from '../../wiring/config.ts';
import { describeKafka } from '../setup/kafka-env.ts';
import { assertIndexExact, makeItem, type Item } from '../helpers/index-expectations.ts';
import { embeddedTarget } from '../helpers/index-target.ts';
import type { RunningSystem } from '../e2e/harness.ts';
import { caughtUp, kafkaEnv, PIPELINE_GROUPS, resetKafka, startApi, startConsumer, testLog, waitUntil, type Proc } from './harness.ts';

/**
 * Poison records on every topic a consumer reads, between valid ones on the same partitions:
 *  - CDC (clean): not JSON, not UTF-8, an envelope whose document violates the schema, an unknown
 *    operation, and a record over the consumers' record limit;
 *  - cleaned documents (embed): not JSON, a document that violates the schema;
 *  - content events (archive): not JSON, a schema violation, a key that is not the document id.
 * Each lands in tributary.dlq once, with its original key and bytes (an oversize one cut to the
 * limit and marked) and headers naming the stage, error code, message, source topic/partition/offset,
 * attempts and first-seen time; every partition keeps moving (the groups reach the end of the log);
 * every valid record around them is indexed, exactly.
 */

const DIM = loadConfig({}).hashingDimension;
const LIMIT = 64 * 1024;
const enc = (s: string) => new TextEncoder().encode(s);

describeKafka('Kafka mode: poison records', (brokers) => {
  let dataDir: string;
  const procs: Proc[] = [];
  const log = testLog(brokers);

  beforeAll(async () => {
    await resetKafka(brokers);
    dataDir = mkdtempSync(join(tmpdir(), 'tributary-kafka-poison-'));
  });
  let apiProc: RunningSystem | null = null;
  afterEach(async () => {
    await Promise.all(procs.splice(0).map((p) => p.kill9()));
    if (apiProc) { await apiProc.kill9(); apiProc = null; }
  });
  afterAll(async () => {
    await log.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('go to the DLQ with their bytes and headers; partitions keep moving; the valid records around them are indexed', async () => {
    const env = kafkaEnv(brokers, { TRIBUTARY_MAX_RECORD_BYTES: String(LIMIT), TRIBUTARY_MAX_ATTEMPTS: '2' });
    // the archive consumer writes to the store, so it runs in the API process, which owns the store and its relay
    apiProc = await startApi(dataDir, { ...env, TRIBUTARY_CONSUMERS: 'archive' });
    for (const name of ['clean', 'embed']) procs.push(await startConsumer(name, dataDir, env));
    await waitUntil('topics applied', async () => (await log.listTopics()).includes(Topics.dlq), 30_000);

    const expected = new Map<string, Item>();
    let ord = 0;
    const cdcValid = (i: number): ProducerRecord => {
      const id = `cdc-valid-${i}`;
      const item = makeItem(i, 0, 'poison-cdc');
      expected.set(id, item);
      const after = { _id: id, ...item, url: null, metadata: null, createdAt: new Date().toISOString(), updatedAt: new Date().toISOString() };
      return { key: buildKey(id), value: enc(JSON.stringify(buildEnvelope({ op: 'c', db: WAREHOUSE_DB, collection: WAREHOUSE_COLLECTION, tsMs: Date.now(), ord: ++ord, after }))) };
    };
    const contentValid = async (from: number, n: number) => {
      const items = Array.from({ length: n }, (_, k) => makeItem(from + k, 0, 'poison-content'));
      const published = await publishContent(log, items);
      published.forEach((p, k) => expected.set(p.id, items[k]!));
    };

    const poison: Array<{ stage: string; codes: string[]; record: ProducerRecord; at: AppendResult }> = [];
    const inject = async (topic: string, stage: string, codes: string[], record: ProducerRecord) => {
      const [at] = await log.append(topic, [record]);
      poison.push({ stage, codes, record, at: at! });
    };

    // valid before …
    await log.append(CDC_TOPIC, Array.from({ length: 60 }, (_, i) => cdcValid(i)));
    await contentValid(0, 40);
    // … poison …
    await inject(CDC_TOPIC, 'clean', ['MALFORMED_EVENT'], { key: buildKey('p-json'), value: enc('{"op": "c", not json') });
    await inject(CDC_TOPIC, 'clean', ['MALFORMED_EVENT'], { key: buildKey('p-utf8'), value: new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]) });
    await inject(CDC_TOPIC, 'clean', ['MALFORMED_EVENT', 'SCHEMA_VIOLATION'], {
      key: buildKey('p-schema'),
      value: enc(JSON.stringify(buildEnvelope({ op: 'c', db: WAREHOUSE_DB, collection: WAREHOUSE_COLLECTION, tsMs: Date.now(), ord: ++ord, after: { _id: 'p-schema', author: 'x', content: 'no category' } }))),
    });
    await inject(CDC_TOPIC, 'clean', ['MALFORMED_EVENT', 'UNSUPPORTED_OPERATION'], { key: buildKey('p-op'), value: enc(JSON.stringify({ op: 'z', source: { ts_ms: 1 } })) });
    await inject(CDC_TOPIC, 'clean', ['OVERSIZE_RECORD'], { key: buildKey('p-big'), value: new Uint8Array(LIMIT + 40_000).fill(0x20) });
    await inject(Topics.cleaned, 'embed', ['MALFORMED_EVENT'], { key: 'p-cleaned-json', value: enc('not json at all') });
    await inject(Topics.cleaned, 'embed', ['SCHEMA_VIOLATION'], { key: 'p-cleaned-schema', value: enc(JSON.stringify({ docId: 'p-cleaned-schema', version: 'seven' })) });
    await inject(Topics.contentEvents, 'archive', ['MALFORMED_EVENT'], { key: 'p-content-json', value: enc('{{{') });
    await inject(Topics.contentEvents, 'archive', ['SCHEMA_VIOLATION'], { key: 'p-content-schema', value: enc(JSON.stringify({ id: 'p-content-schema', category: 'post', content: 'no author' })) });
    await inject(Topics.contentEvents, 'archive', ['SCHEMA_VIOLATION'], { key: 'p-content-key', value: enc(JSON.stringify({ id: 'someone-else', category: 'post', author: 'a', content: 'wrong key' })) });
    // … valid after
    await log.append(CDC_TOPIC, Array.from({ length: 60 }, (_, i) => cdcValid(100 + i)));
    await contentValid(100, 40);

    const groups = [...PIPELINE_GROUPS, { group: Groups.archive, topic: Topics.contentEvents }];
    // (the archive commits only after the store wrote the document and its outbox row: once every group
    // is at the end and the outbox is empty, the archived documents went through clean and embed too)
    await waitUntil('every partition consumed to its end', () => caughtUp(log, dataDir, groups), 120_000, 250);

    const dlq: LogRecord[] = [];
    for (const p of await log.offsets(Topics.dlq)) dlq.push(...await log.read(Topics.dlq, p.partition, p.start, 10_000));
    expect(dlq.map((r) => r.key).sort()).toEqual(poison.map((p) => p.record.key).sort());
    for (const p of poison) {
      const rec = dlq.find((r) => r.key === p.record.key)!;
      const e = describeDlqRecord(rec);
      expect(e.stage, `${p.record.key} stage`).toBe(p.stage);
      expect(p.codes, `${p.record.key} code (${e.code}: ${e.message})`).toContain(e.code);
      expect(e.message.length, `${p.record.key} message`).toBeGreaterThan(10);
      expect({ topic: e.sourceTopic, partition: e.sourcePartition, offset: e.sourceOffset }).toEqual({ topic: p.at.topic, partition: p.at.partition, offset: p.at.offset });
      expect(e.attempts).toBe(1);
      expect(Math.abs(e.firstSeenMs - Date.now())).toBeLessThan(300_000);
      const original = p.record.value!;
      if (original.byteLength > LIMIT) {
        expect(rec.value!.byteLength).toBe(LIMIT);
        expect(rec.headers[DlqHeaders.valueTruncatedFrom]).toBe(String(original.byteLength));
      } else {
        expect(Buffer.from(rec.value!).equals(Buffer.from(original)), `${p.record.key} original bytes`).toBe(true);
      }
    }
    expect(dlq.find((r) => r.key === buildKey('p-schema'))!.headers[DlqHeaders.errorMessage]).toContain('category');

    for (const p of procs.splice(0)) expect(await p.stop(), `${p.name} exit code`).toBe(0);
    expect(await apiProc!.stop(), 'API exit code').toBe(0);
    apiProc = null;
    expect(expected.size).toBe(200);
    await assertIndexExact(embeddedTarget(), dataDir, DIM, expected);
  });
});
