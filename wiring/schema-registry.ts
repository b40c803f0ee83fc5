import type { ValueCodec } from '../ports/value-codec.ts';
import { JsonValueCodec } from '../adapters/value-codec/json/json-codec.ts';
import { RegistryValueCodec } from '../adapters/value-codec/schema-registry/registry-codec.ts';
import { SchemaRegistryAdmin } from '../adapters/value-codec/schema-registry/registry-admin.ts';

export type { SubjectCheck } from '../adapters/value-codec/schema-registry/registry-admin.ts';
import { createRegistryClient } from '../adapters/value-codec/schema-registry/registry-client.ts';

/**
 * Picks the value codec: Confluent wire format with schema ids when SCHEMA_REGISTRY_URL is set,
 * plain JSON otherwise. Both validate with the zod schemas. No I/O here: schema ids are looked up
 * on first use.
 */
export function createValueCodec(config: { schemaRegistryUrl?: string | undefined }, opts: { autoRegister?: boolean } = {}): ValueCodec {
  if (!config.schemaRegistryUrl) return new JsonValueCodec();
  return new RegistryValueCodec({ client: createRegistryClient({ url: config.schemaRegistryUrl }), autoRegister: opts.autoRegister ?? false });
}

export function createSchemaRegistryAdmin(url: string): SchemaRegistryAdmin {
  return new SchemaRegistryAdmin({ client: createRegistryClient({ url }) });
}
