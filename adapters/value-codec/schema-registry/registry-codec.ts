import { TributaryError } from '../../../ports/errors.ts';
import type { ValueCodec } from '../../../ports/value-codec.ts';
import { schemaTextFor } from '../../../schemas/json-schema.ts';
import { subjectFor, validateTopicValue, type SchemaTopic, type TopicValue } from '../../../schemas/registry.ts';
import { parseJsonBytes, toJsonBytes } from '../json-text.ts';
import { isNotFound, registryError, type RegistryClient } from './registry-client.ts';
import { frame, isFramed, unframe } from './wire-format.ts';

export interface RegistryValueCodecOptions {
  client: RegistryClient;
  /**
   * Register the generated schema on first use when the subject lacks it. Off by default: schemas are
   * applied on purpose (`tributary schemas apply`, after `tributary schemas check`), not by whichever
   * producer starts first.
   */
  autoRegister?: boolean;
}

/**
 * JSON values in the Confluent wire format, with schema ids from a Schema Registry (subject
 * `<topic>-value`). Writers validate with zod and frame with the id of the generated schema; readers
 * resolve the writer's schema id (cached by the client), then validate with the reader's zod schema.
 * Unframed JSON is still read (validated the same way): records written before the registry was
 * enabled stay readable, which matters on the compacted cleaned topic, where they live forever.
 */
export class RegistryValueCodec implements ValueCodec {
  readonly kind = 'schema-registry';
  private readonly client: RegistryClient;
  private readonly autoRegister: boolean;
  private readonly ids = new Map<SchemaTopic, Promise<number>>();

  constructor(opts: RegistryValueCodecOptions) {
    this.client = opts.client;
    this.autoRegister = opts.autoRegister ?? false;
  }

  async encode<T extends SchemaTopic>(topic: T, value: TopicValue<T>): Promise<Uint8Array> {
    const valid = validateTopicValue(topic, value);
    return frame(await this.schemaId(topic), toJsonBytes(valid));
  }

  async decode<T extends SchemaTopic>(topic: T, bytes: Uint8Array): Promise<TopicValue<T>> {
    if (!isFramed(bytes)) return validateTopicValue(topic, parseJsonBytes(bytes, `record value of ${topic}`));
    const { schemaId, payload } = unframe(bytes);
    const subject = subjectFor(topic);
    let schemaType: string | undefined;
    try {
      schemaType = (await this.client.getBySubjectAndId(subject, schemaId)).schemaType;
    } catch (e) {
      if (isNotFound(e)) {
        throw new TributaryError('SCHEMA_VIOLATION', `record value of ${topic} names schema id ${schemaId}, which the Schema Registry does not know`);
      }
      throw registryError(e, `looking up schema id ${schemaId} for ${subject}`);
    }
    // a registry reports Avro, the default type, by leaving schemaType out
    if ((schemaType ?? 'AVRO') !== 'JSON') {
      throw new TributaryError('SCHEMA_VIOLATION', `record value of ${topic} was written with schema id ${schemaId}, a ${schemaType ?? 'AVRO'} schema; ${subject} is JSON Schema`);
    }
    return validateTopicValue(topic, parseJsonBytes(payload, `record value of ${topic} (schema id ${schemaId})`));
  }

  /** The id of the generated schema under the topic's subject (looked up once, then cached). */
  schemaId(topic: SchemaTopic): Promise<number> {
    let id = this.ids.get(topic);
    if (!id) {
      id = this.resolveId(topic);
      this.ids.set(topic, id);
      id.catch(() => this.ids.delete(topic));
    }
    return id;
  }

  private async resolveId(topic: SchemaTopic): Promise<number> {
    const subject = subjectFor(topic);
    const info = { schemaType: 'JSON', schema: schemaTextFor(topic) };
    try {
      return await this.client.getId(subject, info, false);
    } catch (e) {
      if (!isNotFound(e)) throw registryError(e, `looking up the schema of ${subject}`);
    }
    if (!this.autoRegister) {
      // retryable: the records are fine; writing resumes once the schema is applied
      throw new TributaryError('SCHEMA_REGISTRY_UNAVAILABLE', `subject ${subject} has no version with the schema this build writes; `
        + 'check and register it with `tributary schemas check` and `tributary schemas apply`');
    }
    try {
      return await this.client.register(subject, info, false);
    } catch (e) {
      throw registryError(e, `registering the schema of ${subject}`);
    }
  }

  async close(): Promise<void> {
    this.client.close();
  }
}
