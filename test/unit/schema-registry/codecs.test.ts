import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { MockClient } from '@confluentinc/schemaregistry/dist/mock-schemaregistry-client.js';
import { JsonValueCodec } from '../../../adapters/value-codec/json/json-codec.ts';
import { RegistryValueCodec } from '../../../adapters/value-codec/schema-registry/registry-codec.ts';
import { frame, unframe } from '../../../adapters/value-codec/schema-registry/wire-format.ts';
import { findTributaryError } from '../../../ports/errors.ts';
import type { CleanedDocument } from '../../../schemas/cleaned.ts';
import { describeSchemaChanges, generatedSchemas, jsonSchemaFor, schemaTextFor } from '../../../schemas/json-schema.ts';
import { SCHEMA_TOPICS, subjectFor } from '../../../schemas/registry.ts';
import { Topics } from '../../../schemas/topics.ts';

const doc: CleanedDocument = {
  docId: 'd', version: 1, category: 'post', author: 'a', title: null, url: null, text: 'x',
  contentHash: 'b'.repeat(64), sourceTsMs: 1, cleanedAtMs: 2,
};
const errorOf = async (p: Promise<unknown>) => {
  try { await p; } catch (e) { return findTributaryError(e) ?? e; }
  throw new Error('expected a rejection');
};

describe('generated JSON Schemas', () => {
  it('one draft-07 schema per registered topic, closed objects, stable text', () => {
    expect(generatedSchemas().map((g) => g.subject)).toEqual(SCHEMA_TOPICS.map(subjectFor));
    const s = jsonSchemaFor(Topics.cleaned);
    expect(s).toMatchObject({ $schema: 'http://json-schema.org/draft-07/schema#', title: 'tributary.content.cleaned-value', type: 'object', additionalProperties: false });
    expect((s['required'] as string[])).toContain('contentHash');
    expect(schemaTextFor(Topics.cleaned)).toBe(schemaTextFor(Topics.cleaned));
    expect(SCHEMA_TOPICS).not.toContain(Topics.dlq);
  });

  it('describes what changed between two versions', () => {
    const v1 = z.toJSONSchema(z.object({ a: z.string(), b: z.number().int(), c: z.string().optional() }), { target: 'draft-7' });
    const v2 = z.toJSONSchema(z.object({ a: z.number(), c: z.string(), d: z.string(), e: z.string().optional() }), { target: 'draft-7' });
    expect(describeSchemaChanges(v1, v2)).toEqual([
      'b: property removed', 'a: type string → number', 'c: became required',
      'd: property added as required (data written before has no value for it)', 'e: property added (optional)',
    ]);
    expect(describeSchemaChanges(v1, v1)).toEqual([]);
  });
});

describe('wire format', () => {
  it('frames with magic byte 0 and a big-endian id, and unframes', () => {
    const f = frame(0x01020304, Buffer.from('{}'));
    expect([...f]).toEqual([0, 1, 2, 3, 4, 123, 125]);
    const u = unframe(f);
    expect(u.schemaId).toBe(0x01020304);
    expect([...u.payload]).toEqual([123, 125]);
    expect(() => frame(-1, new Uint8Array())).toThrow(RangeError);
  });
});

describe('plain JSON codec (no registry)', () => {
  const codec = new JsonValueCodec();
  it('round-trips a valid value and rejects a bad one naming the field', async () => {
    expect(await codec.decode(Topics.cleaned, await codec.encode(Topics.cleaned, doc))).toEqual(doc);
    const e = await errorOf(codec.encode(Topics.cleaned, { ...doc, version: -1 }));
    expect(e).toMatchObject({ code: 'SCHEMA_VIOLATION' });
    expect((e as Error).message).toContain('version');
  });
  it('says why it cannot read a record framed for a registry', async () => {
    const e = await errorOf(codec.decode(Topics.cleaned, frame(3, Buffer.from(JSON.stringify(doc)))));
    expect(e).toMatchObject({ code: 'MALFORMED_EVENT' });
    expect((e as Error).message).toContain('SCHEMA_REGISTRY_URL');
  });
  it('not UTF-8, not JSON: MALFORMED_EVENT', async () => {
    expect(await errorOf(codec.decode(Topics.cleaned, Uint8Array.from([0xff, 0xfe])))).toMatchObject({ code: 'MALFORMED_EVENT' });
    expect(await errorOf(codec.decode(Topics.cleaned, Buffer.from('{')))).toMatchObject({ code: 'MALFORMED_EVENT' });
  });
});

describe('registry codec on the library\'s in-memory client', () => {
  it('encodes with the registered id, decodes, and rejects unknown ids and other schema types', async () => {
    const client = new MockClient();
    const id = await client.register(subjectFor(Topics.cleaned), { schemaType: 'JSON', schema: schemaTextFor(Topics.cleaned) });
    const avroId = await client.register(subjectFor(Topics.cleaned), { schemaType: 'AVRO', schema: '"string"' });
    const codec = new RegistryValueCodec({ client });
    const bytes = await codec.encode(Topics.cleaned, doc);
    expect(unframe(bytes).schemaId).toBe(id);
    expect(await codec.decode(Topics.cleaned, bytes)).toEqual(doc);
    expect(await errorOf(codec.decode(Topics.cleaned, frame(id + 100, Buffer.from('{}'))))).toMatchObject({ code: 'SCHEMA_VIOLATION' });
    const e = await errorOf(codec.decode(Topics.cleaned, frame(avroId, Buffer.from(JSON.stringify(doc)))));
    expect(e).toMatchObject({ code: 'SCHEMA_VIOLATION' });
    expect((e as Error).message).toContain('AVRO');
  });
});
