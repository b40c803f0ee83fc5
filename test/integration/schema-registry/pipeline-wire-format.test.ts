import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { SchemaRegistryAdmin } from '../../../adapters/value-codec/schema-registry/registry-admin.ts';
import { createRegistryClient } from '../../../adapters/value-codec/schema-registry/registry-client.ts';
import { publishContent } from '../../../connectors/content-events/publish-content.ts';
import { Topics } from '../../../schemas/topics.ts';
import { loadConfig } from '../../../wiring/config.ts';
import { createSystem, type System } from '../../../wiring/system.ts';
import { describeWith } from '../../helpers/ci.ts';
import { registryUnavailableReason, startTestRegistry, type TestRegistry } from './apicurio.ts';

/**
 * With SCHEMA_REGISTRY_URL set, the pipeline writes the cleaned topic in the Confluent wire format
 * (magic byte 0 + schema id) and reads it back: a document published end to end is searchable.
 */
const reason = await registryUnavailableReason();

describeWith({ toRun: reason, inCi: 'fail' }, 'pipeline with a Schema Registry (real registry)', () => {
  let registry: TestRegistry;
  let system: System;
  let dir: string;

  beforeAll(async () => {
    registry = await startTestRegistry();
    const client = createRegistryClient({ url: registry.url });
    await new SchemaRegistryAdmin({ client }).apply();
    client.close();
    dir = mkdtempSync(join(tmpdir(), 'tributary-sr-'));
    system = await createSystem(loadConfig({}, { dataDir: dir, embedder: 'hashing', logLevel: 'silent', metricsEnabled: false, schemaRegistryUrl: registry.url }),
      { logger: pino({ level: 'silent' }), lagMonitor: false });
    await system.start();
  }, 600_000);
  afterAll(async () => {
    await system?.close();
    await registry?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('cleaned records carry a registered schema id and the document is indexed', async () => {
    expect(system.codec.kind).toBe('schema-registry');
    const [res] = await system.store.put([{ category: 'article', author: 'Ada', content: 'Registries keep schemas compatible: wombat.', source: 'sr', externalId: 'one' }]);
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline && (await system.index.count({ docId: res!.id })) === 0) await new Promise((r) => setTimeout(r, 50));
    expect(await system.index.count({ docId: res!.id })).toBeGreaterThan(0);
    const records = [];
    for (const o of await system.log.offsets(Topics.cleaned)) records.push(...await system.log.read(Topics.cleaned, o.partition, o.start, 100));
    const mine = records.find((r) => r.key === res!.id)!;
    expect(mine.value![0]).toBe(0); // Confluent magic byte
    const schemaId = Buffer.from(mine.value!.subarray(1, 5)).readInt32BE(0);
    const r = await fetch(`${registry.url}/schemas/ids/${schemaId}`);
    expect(r.status).toBe(200);
    expect(JSON.stringify(await r.json())).toContain('contentHash');
    const hits = await system.index.search({ text: 'wombat', k: 3 });
    expect(hits[0]?.payload.doc_id).toBe(res!.id);
  });

  it('content events published with the codec are archived into the warehouse', async () => {
    const archive = (await import('../../../wiring/consumers.ts')).buildConsumer('archive', {
      config: system.config, log: system.log, logger: system.logger, metrics: system.metrics, store: system.store, codec: system.codec,
    });
    archive.start();
    try {
      const [p] = await publishContent(system.log, [{ category: 'post', author: 'Bo', content: 'Published through the registry: quokka.', source: 'sr', externalId: 'two' }], { codec: system.codec });
      const [raw] = await system.log.read(Topics.contentEvents, p!.partition, p!.offset, 1);
      expect(raw!.value![0]).toBe(0);
      const deadline = Date.now() + 15_000;
      while (Date.now() < deadline && !(await system.store.get(p!.id))) await new Promise((r) => setTimeout(r, 50));
      expect((await system.store.get(p!.id))?.content).toBe('Published through the registry: quokka.');
    } finally {
      await archive.stop();
    }
  });
});
