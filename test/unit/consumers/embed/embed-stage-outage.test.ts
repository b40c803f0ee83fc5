import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HashingEmbedder } from '../../../../adapters/embedder/hashing/hashing-embedder.ts';
import { SqliteEmbeddingCache } from '../../../../adapters/embedding-cache/sqlite/sqlite-embedding-cache.ts';
import { JsonValueCodec } from '../../../../adapters/value-codec/json/json-codec.ts';
import { createEmbeddedVectorIndex } from '../../../../adapters/vector-index/embedded/index.ts';
import { EmbedStage } from '../../../../consumers/embed/embed-stage.ts';
import type { ProducerRecord } from '../../../../ports/event-log.ts';
import type { CleanedDocument } from '../../../../schemas/cleaned.ts';
import { DOC_VERSION_HEADER, Topics } from '../../../../schemas/topics.ts';
import { OutageCodec, OutageEmbedder, OutageIndex, type Outage } from '../../../helpers/outage-doubles.ts';
import { startStageHarness, TEST_RETRY, waitFor, type StageHarness } from '../../../helpers/stage-harness.ts';

/**
 * The embed consumer through an outage of each of its dependencies (the Schema Registry behind the
 * codec, the index, the embedder) longer than its retry budget: the batch is held (degraded, nothing
 * committed, nothing indexed, nothing dead-lettered), and once the dependency is back every document
 * is indexed; only the record that is bad in itself goes to the DLQ.
 */

const DIM = 64;
const json = new JsonValueCodec();
const doc = (docId: string): CleanedDocument => ({
  docId, version: 5, category: 'post', author: 'ada', title: null, url: null, text: `The text of ${docId}, a short post.`,
  contentHash: 'c'.repeat(64), sourceTsMs: 1, cleanedAtMs: 2,
});
const cleaned = async (docId: string): Promise<ProducerRecord> => ({ key: docId, value: await json.encode(Topics.cleaned, doc(docId)), headers: { [DOC_VERSION_HEADER]: '5' } });

describe('embed stage: a dependency outage longer than the retry budget', () => {
  let h: StageHarness;
  let parts: { codec: OutageCodec; index: OutageIndex; embedder: OutageEmbedder; stage: EmbedStage; indexed: (ids: string[]) => Promise<Array<number | null | undefined>> };
  beforeEach(async () => {
    h = startStageHarness('embed-outage');
    const codec = new OutageCodec(json);
    const raw = createEmbeddedVectorIndex({ path: join(h.dir, 'index.db'), dimension: DIM, synchronous: 'normal' });
    const index = new OutageIndex(raw);
    await index.init();
    // what the index holds, read past the outage
    const indexed = async (ids: string[]) => { const v = await raw.documentVersions(ids); return ids.map((id) => v.get(id)?.version); };
    const embedder = new OutageEmbedder(new HashingEmbedder({ dimension: DIM }));
    const stage = new EmbedStage({
      embedder, cache: new SqliteEmbeddingCache(h.db), index, metrics: h.metrics, codec, chunking: { maxTokens: 64, overlapTokens: 8 },
    });
    parts = { codec, index, embedder, stage, indexed };
  });
  afterEach(async () => {
    await h.close();
    await parts.index.close();
  });

  const outages: Array<[string, (p: typeof parts) => Outage, string]> = [
    ['registry', (p) => p.codec.outage, 'SCHEMA_REGISTRY_UNAVAILABLE'],
    ['index', (p) => p.index.outage, 'INDEX_UNAVAILABLE'],
    ['embedder', (p) => p.embedder.outage, 'EMBEDDER_UNAVAILABLE'],
  ];

  it.each(outages)('%s down: nothing reaches the DLQ, the consumer is degraded; once it is back every document is indexed', async (_name, which, code) => {
    const outage = which(parts);
    const consumer = h.consumer(parts.stage, Topics.cleaned);
    const ids = ['d1', 'd2', 'd3', 'd4', 'd5'];
    await h.log.append(Topics.cleaned, [
      await cleaned('d1'), await cleaned('d2'),
      { key: 'poison', value: Buffer.from('{not json'), headers: { [DOC_VERSION_HEADER]: '5' } },
      await cleaned('d3'), await cleaned('d4'), await cleaned('d5'),
    ]);
    outage.down = true;
    consumer.start();
    await waitFor('the outage to outlast the retry budget', () => outage.refused > 2 * TEST_RETRY.maxAttempts);
    expect(consumer.status).toMatchObject({ running: true, degraded: true, lastError: expect.stringContaining(code) });
    expect(await h.dlq()).toEqual([]);
    expect(await h.committed(Topics.cleaned)).toBe(0);
    expect(await parts.indexed(ids)).toEqual(ids.map(() => undefined));

    outage.down = false;
    await waitFor('every cleaned document to be consumed', async () => (await h.committed(Topics.cleaned)) === 6);
    expect(await parts.indexed(ids)).toEqual([5, 5, 5, 5, 5]);
    expect((await h.dlq()).map((d) => [d.key, d.code])).toEqual([['poison', 'MALFORMED_EVENT']]);
    expect(consumer.status).toMatchObject({ degraded: false, lastError: null });
  });
});
