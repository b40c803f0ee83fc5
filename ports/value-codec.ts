import type { SchemaTopic, TopicValue } from '../schemas/registry.ts';

/**
 * Encodes and decodes the values of topics that have a schema (schemas/registry.ts): plain JSON, or
 * the Confluent wire format (magic byte 0, 4-byte schema id, JSON) with a Schema Registry.
 * Both validate against the zod schema, so a stage never sees a value of the wrong shape.
 */
export interface ValueCodec {
  readonly kind: 'json' | 'schema-registry';
  /** Validates (SCHEMA_VIOLATION) and encodes a value of `topic`. */
  encode<T extends SchemaTopic>(topic: T, value: TopicValue<T>): Promise<Uint8Array>;
  /**
   * Decodes and validates a value of `topic`. A bad record throws a non-retryable MALFORMED_EVENT
   * (not JSON, bad framing) or SCHEMA_VIOLATION (unknown schema id, wrong shape): a stage dead-letters
   * it. A registry that can't be reached throws the retryable SCHEMA_REGISTRY_UNAVAILABLE.
   */
  decode<T extends SchemaTopic>(topic: T, bytes: Uint8Array): Promise<TopicValue<T>>;
  close(): Promise<void>;
}
