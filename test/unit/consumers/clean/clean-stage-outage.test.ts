import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { JsonValueCodec } from '../../../../adapters/value-codec/json/json-codec.ts';
import { CleanStage } from '../../../../consumers/clean/clean-stage.ts';
import type { ProducerRecord } from '../../../../ports/event-log.ts';
import { buildEnvelope, buildKey } from '../../../../schemas/change-event.ts';
import { CDC_TOPIC, Topics, WAREHOUSE_COLLECTION, WAREHOUSE_DB } from '../../../../schemas/topics.ts';
import { OutageCodec } from '../../../helpers/outage-doubles.ts';
import { startStageHarness, TEST_RETRY, waitFor, type StageHarness } from '../../../helpers/stage-harness.ts';

/**
 * The clean consumer through a Schema Registry outage longer than its retry budget: the batch is
 * held (degraded, nothing committed, nothing dead-lettered), and once the registry is back every
 * change event is cleaned; only the event that is bad in itself goes to the DLQ.
 */

const cdc = (docId: string, ord: number): ProducerRecord => ({
  key: buildKey(docId),
  value: Buffer.from(JSON.stringify(buildEnvelope({
    op: 'c', db: WAREHOUSE_DB, collection: WAREHOUSE_COLLECTION, tsMs: 1_700_000_000_000, ord,
    after: { _id: docId, category: 'post', author: 'ada', content: `Hello there, post ${docId}.` },
  }))),
});

describe('clean stage: a dependency outage longer than the retry budget', () => {
  let h: StageHarness;
  beforeEach(() => { h = startStageHarness('clean-outage'); });
  afterEach(async () => { await h.close(); });

  it('registry down: nothing reaches the DLQ, the consumer is degraded; once it is back every record is cleaned', async () => {
    const codec = new OutageCodec(new JsonValueCodec());
    const consumer = h.consumer(new CleanStage({ log: h.log, codec }), CDC_TOPIC);
    const ids = ['d1', 'd2', 'd3', 'd4', 'd5'];
    await h.log.append(CDC_TOPIC, [
      cdc('d1', 1), cdc('d2', 2),
      { key: buildKey('poison'), value: Buffer.from('{not json') },
      cdc('d3', 3), cdc('d4', 4), cdc('d5', 5),
    ]);
    codec.outage.down = true;
    consumer.start();
    await waitFor('the outage to outlast the retry budget', () => codec.outage.refused > 2 * TEST_RETRY.maxAttempts);
    expect(consumer.status).toMatchObject({ running: true, degraded: true, lastError: expect.stringContaining('SCHEMA_REGISTRY_UNAVAILABLE') });
    expect(await h.dlq()).toEqual([]);
    expect(await h.records(Topics.cleaned)).toEqual([]);
    expect(await h.committed(CDC_TOPIC)).toBe(0);

    codec.outage.down = false;
    await waitFor('every change event to be consumed', async () => (await h.committed(CDC_TOPIC)) === 6);
    const cleaned = await h.records(Topics.cleaned);
    expect(cleaned.map((r) => r.key).sort()).toEqual(ids);
    expect((await h.dlq()).map((d) => [d.sourceOffset, d.code])).toEqual([[2, 'MALFORMED_EVENT']]);
    expect(consumer.status).toMatchObject({ degraded: false, lastError: null });
  });
});
