import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EmbeddedDocumentStore } from '../../../../adapters/document-store/embedded/embedded-document-store.ts';
import { JsonValueCodec } from '../../../../adapters/value-codec/json/json-codec.ts';
import { ArchiveStage } from '../../../../consumers/archive/archive-stage.ts';
import type { ProducerRecord } from '../../../../ports/event-log.ts';
import { CDC_TOPIC, Topics, WAREHOUSE_COLLECTION, WAREHOUSE_DB } from '../../../../schemas/topics.ts';
import { OutageCodec, OutageStore, type Outage } from '../../../helpers/outage-doubles.ts';
import { startStageHarness, TEST_RETRY, waitFor, type StageHarness } from '../../../helpers/stage-harness.ts';

/**
 * The archive consumer through an outage of the Schema Registry (behind the codec) or of the
 * document store longer than its retry budget: the batch is held (degraded, nothing committed,
 * nothing dead-lettered), and once the dependency is back every event is archived; only the event
 * that is bad in itself goes to the DLQ. A document the store refuses in a write of many fails alone.
 */

const event = (id: string, extra: Record<string, unknown> = {}): ProducerRecord => ({
  key: id, value: Buffer.from(JSON.stringify({ id, category: 'post', author: 'ada', content: `doc ${id}`, ...extra })),
});

describe('archive stage: a dependency outage longer than the retry budget', () => {
  let h: StageHarness;
  let store: EmbeddedDocumentStore;
  let parts: { codec: OutageCodec; store: OutageStore; stage: ArchiveStage };
  beforeEach(() => {
    h = startStageHarness('archive-outage');
    store = new EmbeddedDocumentStore({ db: h.db, log: h.log, cdcTopic: CDC_TOPIC, database: WAREHOUSE_DB, collection: WAREHOUSE_COLLECTION });
    const codec = new OutageCodec(new JsonValueCodec());
    const outageStore = new OutageStore(store);
    parts = { codec, store: outageStore, stage: new ArchiveStage({ store: outageStore, codec }) };
  });
  afterEach(async () => { await h.close(); });

  const archived = async (ids: string[]) => Promise.all(ids.map(async (id) => (await store.get(id))?.content ?? null));

  const outages: Array<[string, (p: typeof parts) => Outage, string]> = [
    ['registry', (p) => p.codec.outage, 'SCHEMA_REGISTRY_UNAVAILABLE'],
    ['store', (p) => p.store.outage, 'STORE_UNAVAILABLE'],
  ];

  it.each(outages)('%s down: nothing reaches the DLQ, the consumer is degraded; once it is back every event is archived', async (_name, which, code) => {
    const outage = which(parts);
    const consumer = h.consumer(parts.stage, Topics.contentEvents);
    const ids = ['a1', 'a2', 'a3', 'a4'];
    await h.log.append(Topics.contentEvents, [event('a1'), event('a2'), { key: 'poison', value: Buffer.from('{not json') }, event('a3'), event('a4')]);
    outage.down = true;
    consumer.start();
    await waitFor('the outage to outlast the retry budget', () => outage.refused > 2 * TEST_RETRY.maxAttempts);
    expect(consumer.status).toMatchObject({ running: true, degraded: true, lastError: expect.stringContaining(code) });
    expect(await h.dlq()).toEqual([]);
    expect(await h.committed(Topics.contentEvents)).toBe(0);
    expect(await archived(ids)).toEqual([null, null, null, null]);

    outage.down = false;
    await waitFor('every content event to be consumed', async () => (await h.committed(Topics.contentEvents)) === 5);
    expect(await archived(ids)).toEqual(ids.map((id) => `doc ${id}`));
    expect((await h.dlq()).map((d) => [d.key, d.code])).toEqual([['poison', 'MALFORMED_EVENT']]);
    expect(consumer.status).toMatchObject({ degraded: false, lastError: null });
  });

  it('a document the store refuses in a write of many is dead-lettered alone; the others are archived (the partition moves on)', async () => {
    const consumer = h.consumer(parts.stage, Topics.contentEvents);
    // b2 claims the source and external id b1 already has: the store refuses the write (INVALID_INPUT), all of it
    await h.log.append(Topics.contentEvents, [
      event('b1', { source: 'blog', externalId: '42' }), event('b2', { source: 'blog', externalId: '42' }), event('b3'),
    ]);
    consumer.start();
    await waitFor('every content event to be consumed', async () => (await h.committed(Topics.contentEvents)) === 3);
    expect(await archived(['b1', 'b2', 'b3'])).toEqual(['doc b1', null, 'doc b3']);
    const dlq = await h.dlq();
    expect(dlq.map((d) => [d.key, d.code])).toEqual([['b2', 'INVALID_INPUT']]);
    expect(dlq[0]!.message).toContain('externalId');
    expect(consumer.status.degraded).toBe(false);
  });
});
