import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MockClient } from '@confluentinc/schemaregistry/dist/mock-schemaregistry-client.js';
import { SqliteEmbeddingCache } from '../../../adapters/embedding-cache/sqlite/sqlite-embedding-cache.ts';
import { createEmbeddedVectorIndex } from '../../../adapters/vector-index/embedded/index.ts';
import { EmbeddedEventLog } from '../../../adapters/event-log/embedded/embedded-event-log.ts';
import { HashingEmbedder } from '../../../adapters/embedder/hashing/hashing-embedder.ts';
import { createRegistryClient } from '../../../adapters/value-codec/schema-registry/registry-client.ts';
import { RegistryValueCodec } from '../../../adapters/value-codec/schema-registry/registry-codec.ts';
import { frame } from '../../../adapters/value-codec/schema-registry/wire-format.ts';
import { openDatabase } from '../../../adapters/sqlite/open-database.ts';
import { CleanStage } from '../../../consumers/clean/clean-stage.ts';
import { EmbedStage } from '../../../consumers/embed/embed-stage.ts';
import { Metrics } from '../../../observability/metrics.ts';
import type { LogRecord } from '../../../ports/event-log.ts';
import { buildEnvelope, buildKey } from '../../../schemas/change-event.ts';
import type { CleanedDocument } from '../../../schemas/cleaned.ts';
import { schemaTextFor } from '../../../schemas/json-schema.ts';
import { subjectFor } from '../../../schemas/registry.ts';
import { CDC_TOPIC, DOC_VERSION_HEADER, Topics, topicSpecs } from '../../../schemas/topics.ts';

/** The clean and embed stages with a Schema Registry codec (the library's in-memory client). */
describe('stages with the Schema Registry codec', () => {
  let dir: string;
  let db: DatabaseSync;
  let log: EmbeddedEventLog;
  let client: MockClient;
  let id: number;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tributary-codec-'));
    db = openDatabase({ path: join(dir, 'log.db'), synchronous: 'normal' });
    log = new EmbeddedEventLog({ db, maxRecordBytes: 1024 * 1024 });
    log.ensureTopicsSync(topicSpecs(1));
    client = new MockClient();
    id = await client.register(subjectFor(Topics.cleaned), { schemaType: 'JSON', schema: schemaTextFor(Topics.cleaned) });
  });
  afterEach(async () => {
    await log.close();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const cdc = (docId: string): LogRecord => ({
    topic: CDC_TOPIC, partition: 0, offset: 0, key: buildKey(docId), headers: {}, timestamp: Date.now(),
    value: Buffer.from(JSON.stringify(buildEnvelope({ op: 'c', db: 'tributary', collection: 'documents', tsMs: 1_700_000_000_000, ord: 1, after: { _id: docId, category: 'post', author: 'ada', content: 'Hello there, a post.' } }))),
  });

  it('clean writes cleaned documents in the wire format with the registered schema id', async () => {
    const codec = new RegistryValueCodec({ client });
    const failures = await new CleanStage({ log, codec }).process([cdc('d1')]);
    expect(failures).toEqual([]);
    const [rec] = await log.read(Topics.cleaned, 0, 0, 10);
    expect(rec!.value![0]).toBe(0);
    expect(Buffer.from(rec!.value!).readUInt32BE(1)).toBe(id);
    expect(await codec.decode(Topics.cleaned, rec!.value!)).toMatchObject({ docId: 'd1', author: 'ada' });
  });

  it('clean retries the whole batch (throws) while the schema is not registered, instead of dead-lettering records', async () => {
    const codec = new RegistryValueCodec({ client: new MockClient() });
    await expect(new CleanStage({ log, codec }).process([cdc('d1')])).rejects.toMatchObject({ code: 'SCHEMA_REGISTRY_UNAVAILABLE' });
    expect((await log.offsets(Topics.cleaned))[0]!.end).toBe(0);
  });

  describe('embed', () => {
    let idxDir: string;
    const stage = async (codec: RegistryValueCodec) => {
      idxDir = mkdtempSync(join(tmpdir(), 'tributary-codec-idx-'));
      const embedder = new HashingEmbedder({ dimension: 64 });
      const index = createEmbeddedVectorIndex({ path: join(idxDir, 'index.db'), dimension: 64, synchronous: 'normal' });
      await index.init();
      const cacheDb = openDatabase({ path: join(idxDir, 'cache.db'), synchronous: 'normal' });
      const s = new EmbedStage({ embedder, cache: new SqliteEmbeddingCache(cacheDb), index, metrics: new Metrics(), chunking: { maxTokens: 64, overlapTokens: 8 }, codec });
      return { s, index, close: async () => { await index.close(); cacheDb.close(); rmSync(idxDir, { recursive: true, force: true }); } };
    };
    const doc = (docId: string): CleanedDocument => ({
      docId, version: 5, category: 'post', author: 'ada', title: null, url: null, text: `text of ${docId}`,
      contentHash: 'c'.repeat(64), sourceTsMs: 1, cleanedAtMs: 2,
    });
    const rec = (offset: number, key: string, value: Uint8Array): LogRecord => ({ topic: Topics.cleaned, partition: 0, offset, key, value, headers: { [DOC_VERSION_HEADER]: '5' }, timestamp: Date.now() });

    it('indexes framed records and fails poison ones per record (unknown id, wrong shape, not JSON), so they are dead-lettered', async () => {
      const codec = new RegistryValueCodec({ client });
      const { s, index, close } = await stage(codec);
      try {
        const { text: _t, ...noText } = doc('bad-shape');
        const failures = await s.process([
          rec(0, 'good', await codec.encode(Topics.cleaned, doc('good'))),
          rec(1, 'unknown-id', frame(id + 999, Buffer.from(JSON.stringify(doc('unknown-id'))))),
          rec(2, 'bad-shape', frame(id, Buffer.from(JSON.stringify(noText)))),
          rec(3, 'not-json', frame(id, Buffer.from('{nope'))),
          rec(4, 'good-2', await codec.encode(Topics.cleaned, doc('good-2'))),
        ], new AbortController().signal);
        expect(failures.map((f) => [f.record.key, f.error.code])).toEqual([
          ['unknown-id', 'SCHEMA_VIOLATION'], ['bad-shape', 'SCHEMA_VIOLATION'], ['not-json', 'MALFORMED_EVENT'],
        ]);
        const versions = await index.documentVersions(['good', 'good-2', 'unknown-id']);
        expect(versions.get('good')?.version).toBe(5);
        expect(versions.get('good-2')?.version).toBe(5);
        expect(versions.has('unknown-id')).toBe(false);
      } finally { await close(); }
    });

    it('throws (batch retried, nothing dead-lettered) when the registry cannot be reached', async () => {
      const codec = new RegistryValueCodec({ client: createRegistryClient({ url: 'http://127.0.0.1:9', timeoutMs: 500 }) });
      const { s, close } = await stage(codec);
      try {
        await expect(s.process([rec(0, 'x', frame(1, Buffer.from(JSON.stringify(doc('x')))))], new AbortController().signal))
          .rejects.toMatchObject({ code: 'SCHEMA_REGISTRY_UNAVAILABLE', retryable: true });
      } finally { await close(); }
    });
  });
});
