import { TributaryError } from '../../../ports/errors.ts';
import type { ValueCodec } from '../../../ports/value-codec.ts';
import { subjectFor, validateTopicValue, type SchemaTopic, type TopicValue } from '../../../schemas/registry.ts';
import { parseJsonBytes, toJsonBytes } from '../json-text.ts';
import { isFramed, unframe } from '../schema-registry/wire-format.ts';

/** Plain JSON values, validated with zod: the codec when no Schema Registry is configured. */
export class JsonValueCodec implements ValueCodec {
  readonly kind = 'json';

  async encode<T extends SchemaTopic>(topic: T, value: TopicValue<T>): Promise<Uint8Array> {
    return toJsonBytes(validateTopicValue(topic, value));
  }

  async decode<T extends SchemaTopic>(topic: T, bytes: Uint8Array): Promise<TopicValue<T>> {
    if (isFramed(bytes)) {
      const { schemaId } = unframe(bytes);
      throw new TributaryError('MALFORMED_EVENT', `record value of ${topic} is in Schema Registry wire format (schema id ${schemaId}) `
        + `but no registry is configured to read ${subjectFor(topic)}; set SCHEMA_REGISTRY_URL`);
    }
    return validateTopicValue(topic, parseJsonBytes(bytes, `record value of ${topic}`));
  }

  async close(): Promise<void> {}
}
