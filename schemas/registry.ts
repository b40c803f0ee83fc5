import type { z } from 'zod';
import { describeIssues, issueDetails } from '../common/zod-issues.ts';
import { TributaryError } from '../ports/errors.ts';
import { cleanedDocumentSchema } from './cleaned.ts';
import { contentEventSchema } from './content.ts';
import { feedbackEventSchema } from './feedback.ts';
import { ragTraceSchema } from './trace.ts';
import { judgementSchema } from './judgement.ts';
import { finetuneCommandSchema, finetuneDatasetStatusSchema, finetuneJobSchema } from './finetune.ts';
import { groupLagStatusSchema } from './lag-status.ts';
import { CDC_TOPIC, Topics } from './topics.ts';

/**
 * Which topic values have a schema in the Schema Registry: zod is the source of truth, the JSON
 * Schema registered under subject `<topic>-value` is generated from it (schemas/json-schema.ts).
 */
export const TOPIC_VALUE_SCHEMAS = {
  [Topics.contentEvents]: contentEventSchema,
  [Topics.cleaned]: cleanedDocumentSchema,
  [Topics.opsLag]: groupLagStatusSchema,
  [Topics.feedback]: feedbackEventSchema,
  [Topics.finetuneJobs]: finetuneJobSchema,
  [Topics.finetuneDatasets]: finetuneDatasetStatusSchema,
  [Topics.finetuneCommands]: finetuneCommandSchema,
  [Topics.ragTraces]: ragTraceSchema,
  [Topics.ragJudgements]: judgementSchema,
} as const;

export type SchemaTopic = keyof typeof TOPIC_VALUE_SCHEMAS;
export type TopicValue<T extends SchemaTopic> = z.output<(typeof TOPIC_VALUE_SCHEMAS)[T]>;

/** Topics whose values are not registered, and why (shown by `tributary schemas`). */
export const UNREGISTERED_TOPICS: Readonly<Record<string, string>> = {
  [CDC_TOPIC]: 'written by Debezium (or the relay) as Debezium envelopes; Debezium\'s converter owns that schema',
  [Topics.dlq]: 'keeps the original bytes of failed records, whatever they were',
};

/** Every registered subject is BACKWARD compatible: consumers on the new schema can read data written with the previous one. */
export const SUBJECT_COMPATIBILITY = 'BACKWARD' as const;

export const SCHEMA_TOPICS = Object.keys(TOPIC_VALUE_SCHEMAS) as SchemaTopic[];

export function isSchemaTopic(topic: string): topic is SchemaTopic {
  return Object.hasOwn(TOPIC_VALUE_SCHEMAS, topic);
}

/** Confluent's TopicNameStrategy for record values. */
export function subjectFor(topic: string): string {
  return `${topic}-value`;
}

/** Validates a value of `topic` against its zod schema; throws SCHEMA_VIOLATION naming each bad field. */
export function validateTopicValue<T extends SchemaTopic>(topic: T, value: unknown): TopicValue<T> {
  const parsed = TOPIC_VALUE_SCHEMAS[topic].safeParse(value);
  if (!parsed.success) {
    throw new TributaryError('SCHEMA_VIOLATION', `value does not match the schema of ${subjectFor(topic)}: ${describeIssues(parsed.error.issues)}`, {
      details: issueDetails(parsed.error.issues),
    });
  }
  return parsed.data as TopicValue<T>;
}
