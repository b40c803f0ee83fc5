import type { RagTrace } from '../schemas/trace.ts';
import type { FeedbackEvent } from '../schemas/feedback.ts';

/**
 * A queryable copy of the RAG traces and the feedback that names them, built from the topics
 * (tributary.rag.traces, tributary.feedback). Every API process keeps its own (in embedded mode and
 * beside Kafka alike): the topics are the record, the store is a view, so every replica serves the
 * same traces. It remembers how far it read each partition.
 */
export interface TraceStore {
  readonly kind: string;
  /** Stores traces and feedback read from the topics, and the positions read up to, together. */
  apply(batch: { traces: RagTrace[]; feedback: FeedbackEvent[]; positions: Array<{ topic: string; partition: number; next: number }> }): void;
  position(topic: string, partition: number): number;
  /** Newest first; `sinceMs`: only traces at or after. */
  list(options: { sinceMs?: number; limit: number }): RagTrace[];
  get(traceId: string): { trace: RagTrace; feedback: FeedbackEvent[] } | null;
  close(): void;
}
