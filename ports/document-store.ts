/**
 * The document warehouse: raw documents as received, never modified by the pipeline.
 * Every write becomes a change event (Debezium MongoDB envelope) on the CDC topic — through the
 * store's own transactional change feed (embedded), Debezium, or the built-in change-stream relay.
 */
import type { RawDocument } from '../schemas/content.ts';

export interface NewDocument {
  /** Explicit id; otherwise derived from source+externalId (idempotent) or generated. */
  id?: string;
  category: string;
  author: string;
  content: string;
  title?: string;
  url?: string;
  source?: string;
  externalId?: string;
  metadata?: Record<string, unknown>;
}

export interface PutResult {
  id: string;
  /** created, updated, or unchanged (same content posted again: no change event). */
  outcome: 'created' | 'updated' | 'unchanged';
}

export interface DocumentStoreCapabilities {
  /** The store writes change events to the event log itself, in the same transaction. */
  transactionalChangeFeed: boolean;
}

export interface DocumentStore {
  readonly kind: string;
  readonly capabilities: DocumentStoreCapabilities;
  /** Inserts or replaces documents atomically (all or nothing). */
  put(docs: NewDocument[]): Promise<PutResult[]>;
  /** Deletes a document; false if it did not exist. */
  delete(id: string): Promise<boolean>;
  get(id: string): Promise<RawDocument | null>;
  count(): Promise<number>;
  /** Emits a snapshot (op "r") change event for every document: used to rebuild downstream state. */
  snapshot(): Promise<number>;
  /** Resolves when the store can be used now; throws STORE_UNAVAILABLE saying why not (readiness checks). */
  ping(): Promise<void>;
  close(): Promise<void>;
}
