import { describe, expect, it } from 'vitest';
import { docIdFromKey, parseChangeRecord } from '../../../schemas/change-event.ts';
import { packVersion } from '../../../schemas/version.ts';

const rec = (value: unknown, key: string | null = null, offset = 0) => ({
  key,
  value: value === null ? null : new TextEncoder().encode(typeof value === 'string' ? value : JSON.stringify(value)),
  offset,
});

// shaped like a Debezium 2.x MongoDB connector event with JsonConverter schemas.enable=true
const debeziumCreate = {
  schema: { type: 'struct', name: 'io.debezium.connector.mongodb.Envelope' },
  payload: {
    before: null,
    after: JSON.stringify({ _id: { $oid: '64b7f0c2e4b0a1a2b3c4d5e6' }, category: 'article', author: 'Ada', content: 'Hello', createdAt: { $date: 1700000000000 }, views: { $numberLong: '12' } }),
    updateDescription: null,
    source: { version: '2.7.0.Final', connector: 'mongodb', name: 'tributary', ts_ms: 1700000000000, snapshot: 'false', db: 'tributary', rs: 'rs0', collection: 'documents', ord: 3, lsid: null, txnNumber: null },
    op: 'c',
    ts_ms: 1700000000123,
  },
};

describe('Debezium MongoDB change events', () => {
  it('parses a schema-wrapped create with extended JSON into a raw document and a packed version', () => {
    const p = parseChangeRecord(rec(debeziumCreate, JSON.stringify({ id: '{"$oid": "64b7f0c2e4b0a1a2b3c4d5e6"}' })));
    expect(p.kind).toBe('upsert');
    if (p.kind !== 'upsert') return;
    expect(p.docId).toBe('64b7f0c2e4b0a1a2b3c4d5e6');
    expect(p.version).toBe(packVersion(1700000000000, 3));
    expect(p.document.createdAt).toBe('2023-11-14T22:13:20.000Z');
    expect(p.document.author).toBe('Ada');
  });

  it('orders versions by cluster time, then ordinal', () => {
    expect(packVersion(1700000001000, 0)).toBeGreaterThan(packVersion(1700000000999, 5));
    expect(packVersion(1700000000000, 2)).toBeGreaterThan(packVersion(1700000000000, 1));
    expect(Number.isSafeInteger(packVersion(4_000_000_000_000, 2 ** 21 - 1))).toBe(true);
  });

  it('parses deletes from the key, and skips the tombstone that follows', () => {
    const del = { op: 'd', before: null, after: null, source: { ts_ms: 1700000005000, ord: 1 } };
    const p = parseChangeRecord(rec(del, JSON.stringify({ id: '"doc-7"' })));
    expect(p).toMatchObject({ kind: 'delete', docId: 'doc-7', version: packVersion(1700000005000, 1) });
    expect(parseChangeRecord(rec(null, JSON.stringify({ id: '"doc-7"' })))).toMatchObject({ kind: 'skip', docId: 'doc-7' });
  });

  it('accepts the ExtractNewDocumentState-flattened form, including __deleted', () => {
    const flat = { _id: 'abc', category: 'post', author: 'Bo', content: 'hi', __op: 'u', __source_ts_ms: 1700000000000, __source_ord: 4 };
    expect(parseChangeRecord(rec(flat, 'abc'))).toMatchObject({ kind: 'upsert', op: 'u', docId: 'abc', version: packVersion(1700000000000, 4) });
    expect(parseChangeRecord(rec({ _id: 'abc', __deleted: 'true', __source_ts_ms: 1700000001000 }, 'abc'))).toMatchObject({ kind: 'delete', docId: 'abc' });
  });

  it('rejects bad input with a code and a message naming the problem', () => {
    expect(() => parseChangeRecord(rec('not json {', 'k'))).toThrow(expect.objectContaining({ code: 'MALFORMED_EVENT', message: expect.stringContaining('not valid JSON') }));
    expect(() => parseChangeRecord({ key: 'k', value: new Uint8Array([0xff, 0xfe, 0x41]), offset: 0 })).toThrow(expect.objectContaining({ code: 'MALFORMED_EVENT', message: expect.stringContaining('UTF-8') }));
    expect(() => parseChangeRecord(rec({ op: 'x', source: { ts_ms: 1 } }, 'k'))).toThrow(expect.objectContaining({ code: 'MALFORMED_EVENT', message: expect.stringContaining('op') }));
    expect(() => parseChangeRecord(rec({ op: 'c', after: JSON.stringify({ _id: 'a', author: 'x', content: 'y' }), source: { ts_ms: 1 } }, 'k')))
      .toThrow(expect.objectContaining({ code: 'SCHEMA_VIOLATION', message: expect.stringContaining('category') }));
    expect(() => parseChangeRecord(rec({ op: 'u', after: null, source: { ts_ms: 1 } }, 'k'))).toThrow(expect.objectContaining({ message: expect.stringContaining('capture.mode') }));
    expect(() => parseChangeRecord(rec([1, 2], 'k'))).toThrow(expect.objectContaining({ code: 'MALFORMED_EVENT' }));
  });

  it('reads document ids from every key form', () => {
    expect(docIdFromKey('plain-id')).toBe('plain-id');
    expect(docIdFromKey('{"id":"\\"s1\\""}')).toBe('s1');
    expect(docIdFromKey('{"id":"{\\"$oid\\": \\"64b7f0c2e4b0a1a2b3c4d5e6\\"}"}')).toBe('64b7f0c2e4b0a1a2b3c4d5e6');
    expect(docIdFromKey('{"schema":{},"payload":{"id":"\\"p1\\""}}')).toBe('p1');
    expect(docIdFromKey(null)).toBeNull();
  });
});
