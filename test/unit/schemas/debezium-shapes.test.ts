import { describe, expect, it } from 'vitest';
import { parseChangeRecord } from '../../../schemas/change-event.ts';
import { packVersion } from '../../../schemas/version.ts';

/**
 * The clean stage's parser on change events in the exact shapes the Debezium MongoDB connector emits
 * (Debezium 3.0.8.Final, the version the Kafka Connect tests run: test/setup/kafka-connect.ts), through
 * Kafka's JsonConverter with schemas off (connectors/debezium/*.json) and on. Paths below are in the
 * Debezium repository at tag v3.0.8.Final; "MongoDbSchema.java" etc. are under
 * debezium-connector-mongodb/src/main/java/io/debezium/connector/mongodb/, tests under …/src/test/java/….
 *
 * What each part looks like, and where that comes from:
 *  - key: a struct with one string field `id` (MongoDbSchema.java: keySchema `.field("id", STRING)`)
 *    holding the _id as RELAXED extended JSON (JsonSerialization.getDocumentId: ObjectId → {"$oid": …},
 *    a string → "\"…\"", a number → 42; test JsonSerializationTest.shouldGeOnlyIdFromCompositeKey: "42").
 *  - value: envelope {before, after, updateDescription, source, op, ts_ms, ts_us, ts_ns, transaction}
 *    (MongoDbSchema.java valueSchema; ts_us/ts_ns from Envelope in debezium-core); `after`/`before` are
 *    strings of STRICT extended JSON written with JsonSerialization.COMPACT_JSON_SETTINGS: `{"_id": {"$oid":
 *    "…"}, "phone": {"$numberLong": "123"}, "scores": [1.2, 3.4, 5.6]}` (test FieldBlacklistIT.
 *    shouldExcludeFieldsForUpdateEvent, `full`); dates as {"$date": <ms>} (STRICT mode).
 *  - source: version, connector, name, ts_ms, snapshot, db, sequence, ts_us, ts_ns, collection, ord,
 *    lsid, txnNumber, wallTime (debezium-core AbstractSourceInfoStructMaker.commonSchemaBuilder +
 *    MongoDbSourceInfoStructMaker.java; test SourceInfoTest.schemaIsCorrect). snapshot is a string enum:
 *    "true" | "first" | "first_in_data_collection" | "last_in_data_collection" | "last" | "false" | "incremental".
 *  - updateDescription: {removedFields, updatedFields (JSON string), truncatedArrays} (MongoDbSchemaFactory
 *    .updatedDescriptionSchema; test FieldBlacklistIT, `updated` = "{\"phone\": 123, …}").
 *  - tombstone: same key, null value, after each delete when tombstones.on.delete=true.
 *  - JsonConverter schemas.enable=true wraps key and value as {"schema": {...}, "payload": {...}}
 *    (Kafka's JsonConverter envelope); the schema names are "<topic>.Key" and "<topic>.Envelope".
 *  - ExtractNewDocumentState: the document itself, ObjectIds as hex strings, the key {"id": <plain value>},
 *    `__deleted` a BOOLEAN in rewrite mode, `__op`/`__source_ts_ms`/`__source_ord` from add.fields
 *    (tests ExtractNewDocumentStateTestIT.shouldTransformRecordForInsertEvent: key.get("id") ==
 *    objId.toString(), value._id == objId.toString(); shouldRewriteDeleteMessage: `__deleted` OPTIONAL_BOOLEAN,
 *    true; shouldAddFieldsForRewriteDeleteEventWithId: `_id` 4, `__op` "d"; shouldRewriteMessagesWhichAreNotDeletes:
 *    `__deleted` false on inserts). Dates become Kafka Timestamps (MongoDataConverter DATE_TIME), written by
 *    JsonConverter with schemas off as epoch milliseconds.
 */

const OID = '64b7f0c2e4b0a1a2b3c4d5e6';
const TOPIC = 'tributary.cdc.tributary.documents';
const TS = 1700000000000;

const enc = (v: unknown) => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v));
const rec = (key: unknown, value: unknown, offset = 0) => ({
  key: key === null ? null : typeof key === 'string' ? key : JSON.stringify(key),
  value: value === null ? null : enc(value),
  offset,
});

/** source block as MongoDbSourceInfoStructMaker fills it for a change-stream event. */
const source = (o: { ord: number; snapshot?: string; tsMs?: number }) => ({
  version: '3.0.8.Final', connector: 'mongodb', name: 'tributary.cdc', ts_ms: o.tsMs ?? TS, snapshot: o.snapshot ?? 'false',
  db: 'tributary', sequence: null, ts_us: (o.tsMs ?? TS) * 1000, ts_ns: (o.tsMs ?? TS) * 1_000_000,
  collection: 'documents', ord: o.ord, lsid: null, txnNumber: null, wallTime: (o.tsMs ?? TS) + 3,
});

// STRICT extended JSON, COMPACT_JSON_SETTINGS spacing (FieldBlacklistIT `full`)
const afterOid = `{"_id": {"$oid": "${OID}"}, "category": "article", "author": "Ada", "content": "Hello", "views": {"$numberLong": "12"}, "scores": [1.2, 3.4]}`;
const afterOidV2 = `{"_id": {"$oid": "${OID}"}, "category": "article", "author": "Ada", "content": "Hello again", "views": {"$numberLong": "13"}, "scores": [1.2, 3.4]}`;
// JsonSerialization.getDocumentId, RELAXED mode, under the key field "id"
const keyOid = { id: `{"$oid": "${OID}"}` };

const envelope = (o: { op: 'c' | 'u' | 'd' | 'r'; before: string | null; after: string | null; ord: number; snapshot?: string; updateDescription?: unknown }) => ({
  before: o.before, after: o.after, updateDescription: o.updateDescription ?? null,
  source: source({ ord: o.ord, ...(o.snapshot ? { snapshot: o.snapshot } : {}) }),
  op: o.op, ts_ms: TS + 20, ts_us: (TS + 20) * 1000, ts_ns: (TS + 20) * 1_000_000, transaction: null,
});

/** Kafka JsonConverter with schemas.enable=true: {schema, payload}. The schema is abridged to what a consumer can read from it. */
const withSchema = (name: string, payload: unknown) => ({
  schema: { type: 'struct', optional: false, name, version: 1, fields: [{ type: 'string', optional: true, name: 'io.debezium.data.Json', version: 1, field: 'after' }] },
  payload,
});

describe('Debezium 3.0.8 MongoDB envelope (no SMT), JsonConverter schemas off', () => {
  it('op c with an ObjectId _id, $numberLong and arrays: an upsert of the plain document', () => {
    // shape: FieldBlacklistIT.shouldExcludeFieldsForUpdateEvent (`full`) + MongoDbSchema.java envelope + SourceInfoTest.schemaIsCorrect
    const p = parseChangeRecord(rec(keyOid, envelope({ op: 'c', before: null, after: afterOid, ord: 1 })));
    expect(p).toMatchObject({ kind: 'upsert', op: 'c', docId: OID, version: packVersion(TS, 1), sourceTsMs: TS });
    if (p.kind !== 'upsert') return;
    expect(p.document).toMatchObject({ _id: OID, category: 'article', author: 'Ada', content: 'Hello' });
  });

  it('op r (snapshot read), snapshot "first" / "true" / "last"', () => {
    // shape: MongoDbSnapshotRecordEmitter emits op "r" with before null; snapshot values from debezium-core SnapshotRecord
    for (const [i, snapshot] of ['first', 'true', 'last'].entries()) {
      expect(parseChangeRecord(rec(keyOid, envelope({ op: 'r', before: null, after: afterOid, ord: i, snapshot }))))
        .toMatchObject({ kind: 'upsert', op: 'r', docId: OID, version: packVersion(TS, i) });
    }
  });

  it('op u with capture.mode=change_streams_update_full_with_pre_image: before and after both full documents, updateDescription set', () => {
    // shape: FieldBlacklistIT.shouldExcludeFieldsForUpdateEvent (ExpectedUpdate: full after, `updated` in updateDescription)
    const updateDescription = { removedFields: null, updatedFields: '{"content": "Hello again", "views": 13}', truncatedArrays: null };
    const p = parseChangeRecord(rec(keyOid, envelope({ op: 'u', before: afterOid, after: afterOidV2, ord: 2, updateDescription })));
    expect(p).toMatchObject({ kind: 'upsert', op: 'u', docId: OID, version: packVersion(TS, 2) });
    if (p.kind === 'upsert') expect(p.document.content).toBe('Hello again');
  });

  it('op u without a full document (capture.mode=change_streams): after null, only updateDescription → refused with the setting to fix', () => {
    // shape: MongoDbChangeRecordEmitter with CaptureMode.CHANGE_STREAMS: after null, updateDescription carries the patch
    const updateDescription = { removedFields: ['title'], updatedFields: '{"content": "x"}', truncatedArrays: null };
    expect(() => parseChangeRecord(rec(keyOid, envelope({ op: 'u', before: null, after: null, ord: 3, updateDescription }))))
      .toThrow(expect.objectContaining({ code: 'MALFORMED_EVENT', message: expect.stringContaining('capture.mode') }));
  });

  it('op d with the pre-image in before and after null, then the tombstone', () => {
    // shape: MongoDbChangeRecordEmitter delete (pre-image mode fills before); tombstone = same key, null value (tombstones.on.delete)
    expect(parseChangeRecord(rec(keyOid, envelope({ op: 'd', before: afterOidV2, after: null, ord: 4 }))))
      .toMatchObject({ kind: 'delete', op: 'd', docId: OID, version: packVersion(TS, 4) });
    expect(parseChangeRecord(rec(keyOid, null))).toEqual({ kind: 'skip', reason: 'tombstone', docId: OID });
  });

  it('string, numeric and Int64 _id keys in RELAXED extended JSON', () => {
    // shape: JsonSerialization.getDocumentId (RELAXED): "\"doc-7\"", 42 (JsonSerializationTest.shouldGeOnlyIdFromCompositeKey: "42")
    const doc = (id: string) => `{"_id": ${id}, "category": "post", "author": "Bo", "content": "hi"}`;
    expect(parseChangeRecord(rec({ id: '"doc-7"' }, envelope({ op: 'c', before: null, after: doc('"doc-7"'), ord: 0 })))).toMatchObject({ kind: 'upsert', docId: 'doc-7' });
    expect(parseChangeRecord(rec({ id: '42' }, envelope({ op: 'c', before: null, after: doc('42'), ord: 0 })))).toMatchObject({ kind: 'upsert', docId: '42' });
    // Int64 _id: the key is RELAXED (42), `after` is STRICT ({"$numberLong": "42"}): both give "42"
    expect(parseChangeRecord(rec({ id: '42' }, envelope({ op: 'c', before: null, after: doc('{"$numberLong": "42"}'), ord: 0 })))).toMatchObject({ kind: 'upsert', docId: '42' });
    expect(parseChangeRecord(rec({ id: '"doc-7"' }, null))).toMatchObject({ kind: 'skip', docId: 'doc-7' });
  });

  it('dates in STRICT mode ({"$date": <ms>}) become ISO strings', () => {
    // shape: JsonSerialization.COMPACT_JSON_SETTINGS (JsonMode.STRICT): BSON dates as {"$date": <epoch ms>}
    const after = `{"_id": "d1", "category": "post", "author": "Bo", "content": "hi", "createdAt": {"$date": ${TS}}}`;
    const p = parseChangeRecord(rec({ id: '"d1"' }, envelope({ op: 'c', before: null, after, ord: 0 })));
    expect(p.kind === 'upsert' && p.document.createdAt).toBe('2023-11-14T22:13:20.000Z');
  });
});

describe('Debezium 3.0.8 MongoDB envelope, JsonConverter schemas on ({schema, payload})', () => {
  it('parses the payload of value and key; the tombstone is a null value (not a {schema, payload: null})', () => {
    // shape: Kafka JsonConverter.fromConnectData with schemas.enable=true; schema names from MongoDbSchema.java ("<topic>.Key", Envelope.schemaName)
    const key = { schema: { type: 'struct', optional: false, name: `${TOPIC}.Key`, fields: [{ type: 'string', optional: false, field: 'id' }] }, payload: keyOid };
    const value = withSchema(`${TOPIC}.Envelope`, envelope({ op: 'c', before: null, after: afterOid, ord: 5 }));
    expect(parseChangeRecord(rec(key, value))).toMatchObject({ kind: 'upsert', op: 'c', docId: OID, version: packVersion(TS, 5) });
    expect(parseChangeRecord(rec(key, withSchema(`${TOPIC}.Envelope`, envelope({ op: 'd', before: afterOid, after: null, ord: 6 })))))
      .toMatchObject({ kind: 'delete', docId: OID, version: packVersion(TS, 6) });
    // JsonConverter writes a null value as a null record value: no envelope at all
    expect(parseChangeRecord(rec(key, null))).toMatchObject({ kind: 'skip', docId: OID });
    // …and a record whose value is JSON null (a converter with schemas on, null payload) is a tombstone too
    expect(parseChangeRecord(rec(key, { schema: null, payload: null }))).toMatchObject({ kind: 'skip', docId: OID });
  });
});

describe('ExtractNewDocumentState (connectors/debezium/mongodb-source-flattened.json), Debezium 3.0.8', () => {
  const flatKey = { id: OID }; // ExtractNewDocumentStateTestIT.shouldTransformRecordForInsertEvent: key.get("id") == objId.toString()

  it('insert: the document with hex _id and the added fields; __deleted false in rewrite mode', () => {
    // shape: ExtractNewDocumentStateTestIT.shouldTransformRecordForInsertEvent (+ shouldAddFields: __op, __source_ts_ms;
    // shouldRewriteMessagesWhichAreNotDeletes: __deleted false); Int64 → number with schemas off
    const value = { _id: OID, category: 'article', author: 'Ada', content: 'Hello', views: 12, __deleted: false, __op: 'c', __source_ts_ms: TS, __source_ord: 1 };
    expect(parseChangeRecord(rec(flatKey, value))).toMatchObject({ kind: 'upsert', op: 'c', docId: OID, version: packVersion(TS, 1) });
    // schemas on: {schema, payload}
    expect(parseChangeRecord(rec({ schema: { type: 'struct', fields: [] }, payload: flatKey }, { schema: { type: 'struct', name: TOPIC, fields: [] }, payload: value })))
      .toMatchObject({ kind: 'upsert', docId: OID });
  });

  it('delete.tombstone.handling.mode=rewrite(-with-tombstone): {__deleted: true} (boolean), with _id when rewrite-with-id, then the tombstone', () => {
    // shape: ExtractNewDocumentStateTestIT.shouldRewriteDeleteMessage (__deleted OPTIONAL_BOOLEAN true) and
    // shouldAddFieldsForRewriteDeleteEventWithId (_id 4, __op "d")
    expect(parseChangeRecord(rec({ id: 4 }, { _id: 4, __deleted: true, __op: 'd', __source_ts_ms: TS, __source_ord: 2 })))
      .toMatchObject({ kind: 'delete', docId: '4', version: packVersion(TS, 2) });
    // without rewrite-with-id the value has no _id: the key says which document
    expect(parseChangeRecord(rec(flatKey, { __deleted: true, __op: 'd', __source_ts_ms: TS, __source_ord: 3 })))
      .toMatchObject({ kind: 'delete', docId: OID, version: packVersion(TS, 3) });
    expect(parseChangeRecord(rec(flatKey, null))).toMatchObject({ kind: 'skip', docId: OID });
  });

  it('delete.tombstone.handling.mode=drop: no delete record reaches the topic, only the tombstone', () => {
    // shape: ExtractNewDocumentStateTestIT.shouldDropDeleteMessagesByDefault (the delete is dropped) + the connector's tombstone
    // With drop, the tombstone is the only trace of a delete, and the parser skips tombstones: the document is never
    // deleted from the index. See the report: the flattened config uses rewrite-with-tombstone for that reason.
    expect(parseChangeRecord(rec(flatKey, null))).toMatchObject({ kind: 'skip', reason: 'tombstone', docId: OID });
  });

  it('dates: ExtractNewDocumentState turns BSON dates into Kafka Timestamps, written as epoch ms with schemas off', () => {
    // shape: MongoDataConverter (DATE_TIME → org.apache.kafka.connect.data.Timestamp) + JsonConverter (Timestamp → long)
    const value = { _id: 'd1', category: 'post', author: 'Bo', content: 'hi', createdAt: TS, __op: 'c', __source_ts_ms: TS, __source_ord: 0 };
    const p = parseChangeRecord(rec({ id: 'd1' }, value));
    expect(p.kind === 'upsert' && p.document.createdAt).toBe('2023-11-14T22:13:20.000Z');
  });
});
