import type { TopicSpec } from '../../../schemas/topics.ts';

/**
 * Topics as code: a TopicSpec (schemas/topics.ts) → the Kafka topic configs Tributary owns.
 * `tributary topics apply` creates missing topics, grows partition counts, and sets these configs
 * where they differ; partitions never shrink (Kafka can't) and other configs are left alone.
 */

/** Room for keys, headers and batch overhead above the largest record value. */
export const RECORD_OVERHEAD_BYTES = 512 * 1024;

export function topicConfigs(spec: TopicSpec, maxRecordBytes: number): Record<string, string> {
  return {
    'cleanup.policy': spec.compacted ? 'compact' : 'delete',
    'retention.ms': String(spec.retentionMs),
    'max.message.bytes': String(maxRecordBytes + RECORD_OVERHEAD_BYTES),
  };
}

export type TopicAction = 'created' | 'updated' | 'unchanged';

export interface TopicChange {
  topic: string;
  action: TopicAction;
  partitions: number;
  /** Human-readable differences applied, e.g. "partitions 2 → 4", "retention.ms 604800000 → -1". */
  changes: string[];
}

export interface ExistingTopic {
  partitions: number;
  configs: Record<string, string | undefined>;
}

export interface TopicPlan {
  create: boolean;
  /** New partition count, when it must grow. */
  growTo: number | null;
  /** Configs to set (all owned configs, when any differs: AlterConfigs replaces the set). */
  configs: Record<string, string> | null;
  changes: string[];
}

/** What must change to bring `existing` (undefined = missing) in line with `spec`. */
export function planTopic(spec: TopicSpec, existing: ExistingTopic | undefined, maxRecordBytes: number): TopicPlan {
  const wanted = topicConfigs(spec, maxRecordBytes);
  if (!existing) return { create: true, growTo: null, configs: wanted, changes: [`created with ${spec.partitions} partitions`] };
  const changes: string[] = [];
  let growTo: number | null = null;
  if (spec.partitions > existing.partitions) {
    growTo = spec.partitions;
    changes.push(`partitions ${existing.partitions} → ${spec.partitions}`);
  }
  for (const [k, v] of Object.entries(wanted)) {
    const cur = existing.configs[k];
    if (cur !== v) changes.push(`${k} ${cur ?? '(default)'} → ${v}`);
  }
  const configsDiffer = changes.length > (growTo === null ? 0 : 1);
  return { create: false, growTo, configs: configsDiffer ? wanted : null, changes };
}
