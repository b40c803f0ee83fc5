/** Every topic and consumer-group name, in one place. */

export const Topics = {
  contentEvents: 'tributary.content.events',
  /** CDC topic of the warehouse collection: tributary.cdc.<db>.<collection> */
  cdc: (db: string, collection: string) => `tributary.cdc.${db}.${collection}`,
  cleaned: 'tributary.content.cleaned',
  /** Fine-tune job states (key = job id; the latest record per key is the job). Compacted and kept: it is the jobs' lineage. */
  finetuneJobs: 'tributary.finetune.jobs',
  /** The finetune-trigger's view of each dataset (key = dataset name): pending, threshold, last version. */
  finetuneDatasets: 'tributary.finetune.datasets',
  /** Requests to the finetune-trigger from the API (key = dataset): a manual trigger, a job's status from its receiver. */
  finetuneCommands: 'tributary.finetune.commands',
  dlq: 'tributary.dlq',
  opsLag: 'tributary.ops.lag',
  /** Operational alerts (e.g. the change-stream relay re-snapshotting after its history was lost). */
  opsEvents: 'tributary.ops.events',
  feedback: 'tributary.feedback',
  /** One record per RAG query (key = traceId): what each step did (schemas/trace.ts). */
  ragTraces: 'tributary.rag.traces',
  /** LLM-as-judge verdicts on RAG answers (key = traceId; schemas/judgement.ts). */
  ragJudgements: 'tributary.rag.judgements',
} as const;

export const Groups = {
  clean: 'clean',
  embed: 'embed',
  finetuneTrigger: 'finetune-trigger',
  archive: 'archive',
  lagMonitor: 'lag-monitor',
  judge: 'judge',
} as const;

export const WAREHOUSE_DB = 'tributary';
export const WAREHOUSE_COLLECTION = 'documents';
export const CDC_TOPIC = Topics.cdc(WAREHOUSE_DB, WAREHOUSE_COLLECTION);

/**
 * What each pipeline consumer reads, by name: its group and topics. The one map that wiring (which
 * consumers to build), the lag monitor (which groups to expect) and the API (lag rows of a group
 * that has not committed yet) all read.
 */
export const PipelineConsumers = {
  clean: { group: Groups.clean, topics: [CDC_TOPIC] },
  embed: { group: Groups.embed, topics: [Topics.cleaned] },
  archive: { group: Groups.archive, topics: [Topics.contentEvents] },
  'finetune-trigger': { group: Groups.finetuneTrigger, topics: [Topics.cleaned, Topics.feedback, Topics.finetuneCommands] },
  judge: { group: Groups.judge, topics: [Topics.ragTraces] },
} as const satisfies Record<string, { group: string; topics: readonly string[] }>;

export type PipelineConsumerName = keyof typeof PipelineConsumers;

/** Topics a group reads, for the pipeline's own groups (empty for any other group). */
export function topicsOfGroup(group: string): readonly string[] {
  return Object.values(PipelineConsumers).find((c) => c.group === group)?.topics ?? [];
}

export interface TopicSpec {
  name: string;
  partitions: number;
  /** Kafka cleanup.policy=compact: the latest record per key is kept. */
  compacted: boolean;
  /** Retention in ms; -1 keeps records forever. */
  retentionMs: number;
}

const DAY = 24 * 3600 * 1000;

export function topicSpecs(partitions: number): TopicSpec[] {
  return [
    { name: Topics.contentEvents, partitions, compacted: false, retentionMs: 7 * DAY },
    { name: CDC_TOPIC, partitions, compacted: false, retentionMs: 7 * DAY },
    { name: Topics.cleaned, partitions, compacted: true, retentionMs: -1 },
    { name: Topics.finetuneJobs, partitions: 1, compacted: true, retentionMs: -1 },
    { name: Topics.finetuneDatasets, partitions: 1, compacted: true, retentionMs: -1 },
    { name: Topics.finetuneCommands, partitions: 1, compacted: false, retentionMs: 7 * DAY },
    { name: Topics.dlq, partitions: 1, compacted: false, retentionMs: 30 * DAY },
    { name: Topics.opsLag, partitions: 1, compacted: false, retentionMs: 1 * DAY },
    { name: Topics.opsEvents, partitions: 1, compacted: false, retentionMs: 30 * DAY },
    { name: Topics.feedback, partitions, compacted: false, retentionMs: 30 * DAY },
    { name: Topics.ragTraces, partitions, compacted: false, retentionMs: 30 * DAY },
    { name: Topics.ragJudgements, partitions, compacted: false, retentionMs: 30 * DAY },
  ];
}

/** DLQ header names (all lower-case, Kafka-compatible). */
export const DlqHeaders = {
  stage: 'tributary.dlq.stage',
  errorCode: 'tributary.dlq.error.code',
  errorMessage: 'tributary.dlq.error.message',
  sourceTopic: 'tributary.dlq.source.topic',
  sourcePartition: 'tributary.dlq.source.partition',
  sourceOffset: 'tributary.dlq.source.offset',
  sourceKey: 'tributary.dlq.source.key',
  attempts: 'tributary.dlq.attempts',
  firstSeen: 'tributary.dlq.first.seen.ms',
  /** Set when the value was too big for the DLQ and was cut: the original size in bytes (the source offset has it whole). */
  valueTruncatedFrom: 'tributary.dlq.value.truncated.from',
} as const;

/** Header that carries the document version on cleaned-topic records (including tombstones). */
export const DOC_VERSION_HEADER = 'tributary.doc.version';
export const SOURCE_TS_HEADER = 'tributary.source.ts.ms';
/** W3C trace context headers (OpenTelemetry's W3C propagator writes them; see observability/tracing.ts). */
export const TRACEPARENT_HEADER = 'traceparent';
export const TRACESTATE_HEADER = 'tracestate';
/**
 * Reserved field of a stored MongoDB document: its writer's trace context, `{traceparent, tracestate?}`,
 * so the change event (the relay's, or Debezium's full document) carries the trace across the CDC hop.
 * Never part of the content: the raw-document schema drops it, and the store's reads leave it out.
 */
export const TRACE_CONTEXT_FIELD = '_trace';
