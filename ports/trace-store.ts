import type { RagTrace } from '../schemas/trace.ts';
import type { FeedbackEvent } from '../schemas/feedback.ts';
import type { Judgement } from '../schemas/judgement.ts';

/**
 * A queryable copy of the RAG traces, the feedback that names them and the judge's verdicts on
 * them, built from the topics (tributary.rag.traces, tributary.feedback, tributary.rag.judgements). Every API process keeps its own (in embedded mode and
 * beside Kafka alike): the topics are the record, the store is a view, so every replica serves the
 * same traces. It remembers how far it read each partition.
 */
export interface TraceStore {
  readonly kind: string;
  /** Stores traces, feedback and verdicts read from the topics, and the positions read up to, together (the latest verdict per trace stands). */
  apply(batch: { traces: RagTrace[]; feedback: FeedbackEvent[]; judgements?: Judgement[]; positions: Array<{ topic: string; partition: number; next: number }> }): void;
  position(topic: string, partition: number): number;
  /** Newest first, each with the judge's verdict (null: not judged); `sinceMs`: only traces at or after. */
  list(options: { sinceMs?: number; limit: number }): Array<{ trace: RagTrace; judgement: Judgement | null }>;
  get(traceId: string): { trace: RagTrace; feedback: FeedbackEvent[]; judgement: Judgement | null } | null;
  /** Drops traces older than `beforeMs` with their feedback and verdicts (the topics keep 30 days); returns how many. */
  prune(beforeMs: number): number;
  close(): void;
}
