import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { JsonDeserializer, JsonSerializer } from '@confluentinc/schemaregistry/dist/serde/json.js';
import { SerdeType, SubjectNameStrategyType } from '@confluentinc/schemaregistry/dist/serde/serde.js';
import { RegistryValueCodec } from '../../../adapters/value-codec/schema-registry/registry-codec.ts';
import { SchemaRegistryAdmin, type SubjectSchema } from '../../../adapters/value-codec/schema-registry/registry-admin.ts';
import { createRegistryClient, type RegistryClient } from '../../../adapters/value-codec/schema-registry/registry-client.ts';
import { frame } from '../../../adapters/value-codec/schema-registry/wire-format.ts';
import { findTributaryError } from '../../../ports/errors.ts';
import type { CleanedDocument } from '../../../schemas/cleaned.ts';
import { schemaTextFor } from '../../../schemas/json-schema.ts';
import { SCHEMA_TOPICS, subjectFor } from '../../../schemas/registry.ts';
import { Topics } from '../../../schemas/topics.ts';
import { runCli } from '../../cli/helpers.ts';
import { describeWith } from '../../helpers/ci.ts';
import { registryUnavailableReason, startTestRegistry, type TestRegistry } from './apicurio.ts';

/**
 * Against a real Schema Registry (Apicurio, Confluent-compatible API), started by the suite.
 * Without Java/Maven the suite is skipped locally and fails in CI.
 */
const reason = await registryUnavailableReason();

const doc = (over: Partial<CleanedDocument> = {}): CleanedDocument => ({
  docId: 'doc-1', version: 7, category: 'article', author: 'ada', title: 'T', url: null, text: 'hello world',
  contentHash: 'a'.repeat(64), sourceTsMs: 1_700_000_000_000, cleanedAtMs: 1_700_000_000_100, ...over,
});

const errorOf = async (p: Promise<unknown>) => {
  try { await p; } catch (e) { return findTributaryError(e) ?? e; }
  throw new Error('expected a rejection');
};

describeWith({ toRun: reason, inCi: 'fail' }, 'Schema Registry (real registry)', () => {
  let registry: TestRegistry;
  let client: RegistryClient;
  const http = (path: string, init?: RequestInit) => fetch(`${registry.url}${path}`, init).then(async (r) => ({ status: r.status, body: await r.json() as Record<string, unknown> }));

  beforeAll(async () => {
    registry = await startTestRegistry();
    client = createRegistryClient({ url: registry.url });
  }, 600_000);
  afterAll(async () => {
    client?.close();
    await registry?.stop();
  });

  describe('check and apply of the generated schemas', () => {
    it('check on an empty registry reports every subject as new and passes', async () => {
      const r = await runCli(['schemas', 'check'], { env: { SCHEMA_REGISTRY_URL: registry.url } });
      expect(r.code).toBe(0);
      for (const t of SCHEMA_TOPICS) expect(r.stdout).toMatch(new RegExp(`${subjectFor(t).replace(/\./g, '\\.')}\\s+new`));
      expect(r.stdout).toContain(`OK: ${SCHEMA_TOPICS.length} subjects to register`);
    });

    it('apply registers every subject with BACKWARD compatibility, and is idempotent', async () => {
      const first = await runCli(['schemas', 'apply', '--json'], { env: { SCHEMA_REGISTRY_URL: registry.url } });
      expect(first.code, first.stderr).toBe(0);
      const applied = (JSON.parse(first.stdout) as { subjects: Array<{ subject: string; id: number; state: string }> }).subjects;
      expect(applied.map((a) => a.subject).sort()).toEqual(SCHEMA_TOPICS.map(subjectFor).sort());
      expect(applied.every((a) => a.state === 'registered' && a.id > 0)).toBe(true);

      for (const t of SCHEMA_TOPICS) {
        const cfg = await http(`/config/${subjectFor(t)}`);
        expect(cfg.body['compatibilityLevel'] ?? cfg.body['compatibility']).toBe('BACKWARD');
        const latest = await http(`/subjects/${subjectFor(t)}/versions/latest`);
        expect(latest.body['schemaType']).toBe('JSON');
        expect(JSON.parse(latest.body['schema'] as string)).toEqual(JSON.parse(schemaTextFor(t)));
      }

      const again = await runCli(['schemas', 'apply', '--json'], { env: { SCHEMA_REGISTRY_URL: registry.url } });
      expect(again.code).toBe(0);
      const second = (JSON.parse(again.stdout) as { subjects: Array<{ subject: string; id: number; state: string }> }).subjects;
      expect(second).toEqual(applied.map((a) => ({ ...a, state: 'unchanged' })));
      const versions = await http(`/subjects/${subjectFor(Topics.cleaned)}/versions`);
      expect(versions.body).toEqual([1]);

      const check = await runCli(['schemas', 'check'], { env: { SCHEMA_REGISTRY_URL: registry.url } });
      expect(check.code).toBe(0);
      expect(check.stdout).toContain('OK: the registry is up to date');
    });
  });

  describe('compatibility of a changed schema', () => {
    const v1 = z.object({ id: z.string(), count: z.number().int(), note: z.string().nullable() });
    const subjectSchema = (topic: string, schema: z.ZodType): SubjectSchema => ({
      topic, subject: subjectFor(topic), schema: JSON.stringify(z.toJSONSchema(schema, { target: 'draft-7' })),
    });

    it('passes an additive change, registers it as version 2, and refuses breaking ones with a clear message', async () => {
      const topic = `test.${randomUUID()}`;
      await new SchemaRegistryAdmin({ client, schemas: [subjectSchema(topic, v1)] }).apply();

      const additive = new SchemaRegistryAdmin({ client, schemas: [subjectSchema(topic, v1.extend({ extra: z.string().optional() }))] });
      const [ok] = await additive.check();
      expect(ok).toMatchObject({ state: 'compatible', latestVersion: 1, compatibility: 'BACKWARD', problem: null });
      expect(ok!.changes).toEqual(['extra: property added (optional)']);

      const breaking = new SchemaRegistryAdmin({ client, schemas: [subjectSchema(topic, v1.extend({ count: z.string(), owner: z.string() }))] });
      const [bad] = await breaking.check();
      expect(bad!.state).toBe('incompatible');
      expect(bad!.problem).toContain('would break BACKWARD compatibility with version 1');
      expect(bad!.problem).toContain('count: type integer → string');
      expect(bad!.problem).toContain('owner: property added as required');
      const refused = await errorOf(breaking.apply());
      expect(refused).toMatchObject({ code: 'SCHEMA_VIOLATION' });
      expect((await http(`/subjects/${subjectFor(topic)}/versions`)).body).toEqual([1]);

      const removed = new SchemaRegistryAdmin({ client, schemas: [subjectSchema(topic, v1.omit({ note: true }))] });
      expect((await removed.check())[0]).toMatchObject({ state: 'incompatible', changes: ['note: property removed'] });

      const applied = await additive.apply();
      expect(applied[0]!.state).toBe('registered');
      expect((await http(`/subjects/${subjectFor(topic)}/versions`)).body).toEqual([1, 2]);
    });

    it('a subject left at another compatibility level fails the check until apply sets BACKWARD', async () => {
      const topic = `test.${randomUUID()}`;
      const subject = subjectFor(topic);
      await client.register(subject, { schemaType: 'JSON', schema: subjectSchema(topic, v1).schema }, false);
      // (Apicurio refuses NONE on a subject that doesn't exist yet: NONE means "no rule")
      const put = await fetch(`${registry.url}/config/${subject}`, { method: 'PUT', headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' }, body: JSON.stringify({ compatibility: 'NONE' }) });
      expect(put.ok).toBe(true);
      const admin = new SchemaRegistryAdmin({ client, schemas: [subjectSchema(topic, v1)] });
      const [c] = await admin.check();
      expect(c).toMatchObject({ state: 'unchanged', compatibility: 'NONE' });
      expect(c!.problem).toContain('has compatibility NONE, not BACKWARD');
      await admin.apply();
      expect((await admin.check())[0]).toMatchObject({ compatibility: 'BACKWARD', problem: null });
    });

  });

  describe('serdes', () => {
    let codec: RegistryValueCodec;
    beforeAll(async () => {
      await new SchemaRegistryAdmin({ client }).apply();
      codec = new RegistryValueCodec({ client: createRegistryClient({ url: registry.url }) });
    });
    afterAll(async () => { await codec?.close(); });

    it('writes the Confluent wire format with the registered schema id and reads it back', async () => {
      const id = (await http(`/subjects/${subjectFor(Topics.cleaned)}`, {
        method: 'POST', headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
        body: JSON.stringify({ schemaType: 'JSON', schema: schemaTextFor(Topics.cleaned) }),
      })).body['id'] as number;
      const bytes = await codec.encode(Topics.cleaned, doc());
      expect(bytes[0]).toBe(0);
      expect(Buffer.from(bytes).readUInt32BE(1)).toBe(id);
      expect(JSON.parse(Buffer.from(bytes.subarray(5)).toString('utf8'))).toEqual(doc());
      expect(await codec.decode(Topics.cleaned, bytes)).toEqual(doc());
    });

    it('refuses to write a value that violates the schema, naming the field', async () => {
      const e = await errorOf(codec.encode(Topics.cleaned, doc({ contentHash: 'short' })));
      expect(e).toMatchObject({ code: 'SCHEMA_VIOLATION', retryable: false });
      expect((e as Error).message).toContain('contentHash');
    });

    it('an unknown schema id is SCHEMA_VIOLATION (not retryable: the stage dead-letters it)', async () => {
      const e = await errorOf(codec.decode(Topics.cleaned, frame(987_654, Buffer.from(JSON.stringify(doc())))));
      expect(e).toMatchObject({ code: 'SCHEMA_VIOLATION', retryable: false });
      expect((e as Error).message).toContain('schema id 987654');
    });

    it('a payload that violates the schema is SCHEMA_VIOLATION naming the field; broken bytes are MALFORMED_EVENT', async () => {
      const id = await codec.schemaId(Topics.cleaned);
      const { text: _text, ...noText } = doc();
      const e1 = await errorOf(codec.decode(Topics.cleaned, frame(id, Buffer.from(JSON.stringify(noText)))));
      expect(e1).toMatchObject({ code: 'SCHEMA_VIOLATION', retryable: false });
      expect((e1 as Error).message).toMatch(/text: /);
      const e2 = await errorOf(codec.decode(Topics.cleaned, frame(id, Buffer.from('{not json'))));
      expect(e2).toMatchObject({ code: 'MALFORMED_EVENT', retryable: false });
      const e3 = await errorOf(codec.decode(Topics.cleaned, Uint8Array.from([0, 0, 1])));
      expect(e3).toMatchObject({ code: 'MALFORMED_EVENT' });
      const e4 = await errorOf(codec.decode(Topics.cleaned, Buffer.from('not json at all')));
      expect(e4).toMatchObject({ code: 'MALFORMED_EVENT' });
    });

    it('reads plain JSON written before the registry was enabled', async () => {
      expect(await codec.decode(Topics.cleaned, Buffer.from(JSON.stringify(doc())))).toEqual(doc());
    });

    it('is byte-compatible with the Confluent library\'s own JSON Schema serde, both ways', async () => {
      const conf = { subjectNameStrategyType: SubjectNameStrategyType.TOPIC, autoRegisterSchemas: false, useLatestVersion: true, validate: true };
      const ser = new JsonSerializer(client, SerdeType.VALUE, conf);
      const de = new JsonDeserializer(client, SerdeType.VALUE, { subjectNameStrategyType: SubjectNameStrategyType.TOPIC, validate: true });
      const theirs = await ser.serialize(Topics.cleaned, doc({ docId: 'theirs' }));
      expect(await codec.decode(Topics.cleaned, theirs)).toEqual(doc({ docId: 'theirs' }));
      const ours = await codec.encode(Topics.cleaned, doc({ docId: 'ours' }));
      expect(await de.deserialize(Topics.cleaned, Buffer.from(ours))).toEqual(doc({ docId: 'ours' }));
    });

    it('an unregistered schema stops writing with a retryable error that says to apply schemas', async () => {
      await fetch(`${registry.url}/subjects/${subjectFor(Topics.opsLag)}`, { method: 'DELETE' });
      await fetch(`${registry.url}/subjects/${subjectFor(Topics.opsLag)}?permanent=true`, { method: 'DELETE' });
      const fresh = new RegistryValueCodec({ client: createRegistryClient({ url: registry.url }) });
      const value = { group: 'g', status: 'OK' as const, evaluatedAtMs: 1, totalLag: 0, maxLagSeconds: 0, intervalMs: 5000, windowSize: 10, partitions: [] };
      const e = await errorOf(fresh.encode(Topics.opsLag, value));
      expect(e).toMatchObject({ code: 'SCHEMA_REGISTRY_UNAVAILABLE', retryable: true });
      expect((e as Error).message).toContain('tributary schemas apply');
      const auto = new RegistryValueCodec({ client: createRegistryClient({ url: registry.url }), autoRegister: true });
      const bytes = await auto.encode(Topics.opsLag, value);
      expect(await fresh.decode(Topics.opsLag, bytes)).toEqual(value);
      await fresh.close();
      await auto.close();
    });
  });

  it('a registry that cannot be reached is SCHEMA_REGISTRY_UNAVAILABLE (retryable), and the CLI exits 3', async () => {
    const dead = new RegistryValueCodec({ client: createRegistryClient({ url: 'http://127.0.0.1:9/apis/ccompat/v7', timeoutMs: 1000 }) });
    const e = await errorOf(dead.decode(Topics.cleaned, frame(1, Buffer.from('{}'))));
    expect(e).toMatchObject({ code: 'SCHEMA_REGISTRY_UNAVAILABLE', retryable: true });
    await dead.close();
    const r = await runCli(['schemas', 'check', '--registry', 'http://127.0.0.1:9'], {});
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('cannot reach the Schema Registry at http://127.0.0.1:9');
  });

  describe('the CLI on a breaking change (last: it leaves the cleaned subject incompatible)', () => {
    it('the CLI check exits 1 and names the breaking field', async () => {
      // the generated cleaned-document schema is registered (above); register a stricter latest
      // version by hand so that today's schema would be a breaking change against it
      const subject = subjectFor(Topics.cleaned);
      const stricter = JSON.parse(schemaTextFor(Topics.cleaned)) as { properties: Record<string, unknown>; required: string[] };
      stricter.properties['language'] = { type: 'string' };
      stricter.required.push('language');
      const res = await fetch(`${registry.url}/subjects/${subject}/versions`, {
        method: 'POST', headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
        body: JSON.stringify({ schemaType: 'JSON', schema: JSON.stringify({ ...stricter, properties: { ...stricter.properties } }) }),
      });
      // adding a required field is itself not BACKWARD: the registry refuses it
      expect(res.status).toBe(409);

      // so take the other road: loosen compatibility, register the stricter version, restore BACKWARD
      const hdr = { 'content-type': 'application/vnd.schemaregistry.v1+json' };
      await fetch(`${registry.url}/config/${subject}`, { method: 'PUT', headers: hdr, body: JSON.stringify({ compatibility: 'NONE' }) });
      const reg = await fetch(`${registry.url}/subjects/${subject}/versions`, { method: 'POST', headers: hdr, body: JSON.stringify({ schemaType: 'JSON', schema: JSON.stringify(stricter) }) });
      expect(reg.ok).toBe(true);
      await fetch(`${registry.url}/config/${subject}`, { method: 'PUT', headers: hdr, body: JSON.stringify({ compatibility: 'BACKWARD' }) });

      const r = await runCli(['schemas', 'check'], { env: { SCHEMA_REGISTRY_URL: registry.url } });
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(new RegExp(`${subject.replace(/\./g, '\\.')}\\s+INCOMPATIBLE`));
      expect(r.stdout).toContain('language: property removed');
      expect(r.stderr).toContain('would break BACKWARD compatibility');
      const apply = await runCli(['schemas', 'apply'], { env: { SCHEMA_REGISTRY_URL: registry.url } });
      expect(apply.code).toBe(1);
      expect(apply.stderr).toContain('nothing applied');
    });
  });
});
