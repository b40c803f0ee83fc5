import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EmbeddedEventLog } from '../../../adapters/event-log/embedded/embedded-event-log.ts';
import { EmbeddedDocumentStore } from '../../../adapters/document-store/embedded/embedded-document-store.ts';
import { openDatabase } from '../../../adapters/sqlite/open-database.ts';
import type { LogRecord } from '../../../ports/event-log.ts';
import { ArchiveStage } from '../../../consumers/archive/archive-stage.ts';
import { JsonValueCodec } from '../../../adapters/value-codec/json/json-codec.ts';
import { publishContent, publishContentDeletion } from '../../../connectors/content-events/publish-content.ts';
import { parseChangeRecord } from '../../../schemas/change-event.ts';
import { documentIdFor } from '../../../schemas/ids.ts';
import { CDC_TOPIC, Topics, WAREHOUSE_COLLECTION, WAREHOUSE_DB, topicSpecs } from '../../../schemas/topics.ts';

describe('publishContent → archive stage → warehouse (+ change feed)', () => {
  let dir: string; let db: DatabaseSync; let log: EmbeddedEventLog; let store: EmbeddedDocumentStore; let stage: ArchiveStage;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'tributary-archive-'));
    db = openDatabase({ path: join(dir, 't.db'), synchronous: 'normal' });
    log = new EmbeddedEventLog({ db, maxRecordBytes: 1 << 20 });
    log.ensureTopicsSync(topicSpecs(2));
    store = new EmbeddedDocumentStore({ db, log, cdcTopic: CDC_TOPIC, database: WAREHOUSE_DB, collection: WAREHOUSE_COLLECTION });
    stage = new ArchiveStage({ store, codec: new JsonValueCodec() });
  });
  afterEach(async () => { await log.close(); db.close(); rmSync(dir, { recursive: true, force: true }); });

  const events = async (): Promise<LogRecord[]> => {
    const out: LogRecord[] = [];
    for (const o of await log.offsets(Topics.contentEvents)) out.push(...await log.read(Topics.contentEvents, o.partition, 0, 1000));
    return out.sort((a, b) => a.timestamp - b.timestamp || a.offset - b.offset);
  };
  const cdc = async () => {
    const out: LogRecord[] = [];
    for (const o of await log.offsets(CDC_TOPIC)) out.push(...await log.read(CDC_TOPIC, o.partition, 0, 1000));
    return out.map((r) => parseChangeRecord(r));
  };

  it('publishes keyed by document id; the archive writes raw documents, idempotently; a tombstone deletes', async () => {
    const published = await publishContent(log, [
      { category: 'article', author: 'ada', content: '<p>raw &amp; untouched</p>', source: 'blog', externalId: '42' },
      { id: 'explicit-1', category: 'post', author: 'bob', content: 'hello' },
    ]);
    expect(published.map((p) => p.id)).toEqual([documentIdFor('blog', '42'), 'explicit-1']);
    const recs = await events();
    expect(recs.map((r) => r.key).sort()).toEqual([documentIdFor('blog', '42'), 'explicit-1'].sort());
    expect(recs.every((r) => r.headers['traceparent'] === undefined || typeof r.headers['traceparent'] === 'string')).toBe(true);
    expect(await stage.process(recs)).toEqual([]);
    expect((await store.get(documentIdFor('blog', '42')))?.content).toBe('<p>raw &amp; untouched</p>');
    // redelivery of the same events: no new change events
    expect(await stage.process(recs)).toEqual([]);
    expect((await cdc()).filter((e) => e.kind === 'upsert')).toHaveLength(2);
    await publishContentDeletion(log, ['explicit-1']);
    const del = (await events()).filter((r) => r.value === null);
    expect(await stage.process(del)).toEqual([]);
    expect(await store.get('explicit-1')).toBeNull();
    expect((await cdc()).some((e) => e.kind === 'delete' && e.docId === 'explicit-1')).toBe(true);
  });

  it('rejects an invalid item before sending anything, naming the item and the field', async () => {
    await expect(publishContent(log, [
      { category: 'article', author: 'ada', content: 'fine' },
      { category: 'Not A Category', author: 'x', content: 'y' },
    ])).rejects.toMatchObject({ code: 'INVALID_INPUT', message: expect.stringContaining('item 1') });
    expect(await events()).toHaveLength(0);
  });

  it('bad events are per-record failures (DLQ); the good ones around them are archived', async () => {
    const rec = (key: string | null, value: string | Uint8Array | null, offset: number): LogRecord => ({
      topic: Topics.contentEvents, partition: 0, offset, key, headers: {}, timestamp: 1,
      value: value === null ? null : typeof value === 'string' ? new TextEncoder().encode(value) : value,
    });
    const good = (id: string, offset: number) => rec(id, JSON.stringify({ id, category: 'post', author: 'a', content: `doc ${id}` }), offset);
    const failures = await stage.process([
      good('g1', 0),
      rec('bad-json', '{nope', 1),
      rec('bad-utf8', new Uint8Array([0x7b, 0xff]), 2),
      rec('bad-schema', JSON.stringify({ id: 'bad-schema', category: 'post', content: 'no author' }), 3),
      rec('other-key', JSON.stringify({ id: 'mismatch', category: 'post', author: 'a', content: 'x' }), 4),
      rec(null, null, 5),
      good('g2', 6),
      rec('probe', JSON.stringify({ id: 'probe', category: 'tributary-probe', author: 'a', content: 'x' }), 7),
    ]);
    expect(failures.map((f) => [f.record.offset, f.error.code])).toEqual([
      [1, 'MALFORMED_EVENT'], [2, 'MALFORMED_EVENT'], [3, 'SCHEMA_VIOLATION'], [4, 'SCHEMA_VIOLATION'], [5, 'MALFORMED_EVENT'], [7, 'SCHEMA_VIOLATION'],
    ]);
    expect(failures[5]!.error.message).toContain('reserved for the freshness probe');
    expect(failures[2]!.error.message).toContain('author');
    expect(await store.get('g1')).not.toBeNull();
    expect(await store.get('g2')).not.toBeNull();
  });
});
