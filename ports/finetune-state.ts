import type { CleanedDocument } from '../schemas/cleaned.ts';
import type { FeedbackEvent } from '../schemas/feedback.ts';
import type { FinetuneDataset, FinetuneDatasetStatus, JobState } from '../schemas/finetune.ts';
import type { TriggerDecision } from '../streams/threshold/threshold.ts';
import type { DatasetDocument, FeedbackItem } from '../streams/finetune/samples.ts';

/**
 * The finetune-trigger's durable state: where it is in each input partition, each dataset's items (as versions, so a window's snapshot stays readable while new
 * items arrive), the content hashes it has counted, its windows and jobs, and an outbox of the
 * records it publishes. Each batch of input records is applied in one transaction together with the
 * input positions, so a record is counted exactly once even when the process dies between this
 * commit and the consumer group's: a redelivered record is below the stored position and skipped.
 *
 * A window (the trigger firing) is recorded in the same transaction that resets the dataset's
 * pending count, and names the last item it holds (`cut_seq`): the version pinned for it is the
 * dataset as it was at that item, whenever the pin happens. A job is recorded (with its idempotency
 * key, the dataset version) before its launch, and is unique per (dataset, version).
 */

export type InputRecord =
  | { kind: 'document'; offset: number; doc: CleanedDocument }
  | { kind: 'deletion'; offset: number; docId: string; version: number | null }
  | { kind: 'feedback'; offset: number; event: FeedbackEvent }
  | { kind: 'trigger'; offset: number; requestId: string; dataset: string; atMs: number }
  | { kind: 'job-status'; offset: number; requestId: string; jobId: string; state: 'running' | 'succeeded' | 'failed' | 'cancelled'; model?: string; error?: string; externalId?: string }
  | { kind: 'failed'; offset: number };

export interface WindowRow {
  id: number;
  dataset: string;
  cutSeq: number;
  trigger: 'threshold' | 'manual';
  requestId: string | null;
  openedAtMs: number;
  outcome: 'pending' | 'job' | 'empty' | 'failed';
  datasetVersion: string | null;
  jobId: string | null;
  message: string | null;
  /** Input positions when the window opened (topic → partition → next offset). */
  offsets: Record<string, Record<string, number>>;
  attempts: number;
  nextAttemptAtMs: number;
}

export interface JobRow {
  id: string;
  dataset: string;
  datasetVersion: string;
  /** The launch's idempotency key: the version, or `<version>-r<n>` for a retry after a failed job. */
  idempotencyKey: string;
  /** Bumped by every change: a writer that read an older revision does not overwrite a newer one. */
  rev: number;
  items: number;
  state: JobState;
  launcher: 'webhook' | 'openai' | 'command';
  externalId: string | null;
  model: string | null;
  error: string | null;
  attempts: number;
  trigger: 'threshold' | 'manual';
  requestIds: string[];
  createdAtMs: number;
  updatedAtMs: number;
  nextAttemptAtMs: number;
}

export interface OutboxRow { seq: number; topic: string; key: string; value: string }


export interface FinetuneState {
  /** Records the configured datasets; returns those not gathered yet (new, or changed in what they select). */
  register(): string[];
  needsBackfill(dataset: string): boolean;
  /** Applies records read from the start of a topic to one new dataset, up to the shared positions. */
  applyBackfill(dataset: string, topic: string, partition: number, records: InputRecord[]): void;
  markBackfilled(dataset: string): void;
  /** The next offset to apply in an input partition. */
  position(topic: string, partition: number): number;
  positions(topic: string): Record<string, number>;
  /** Whether a record below the position was dead-lettered (a redelivered batch reports it again). */
  wasFailed(topic: string, partition: number, offset: number): boolean;
  /** Applies one partition's records and advances its position, in one transaction. */
  apply(topic: string, partition: number, records: InputRecord[]): { applied: number; changed: boolean };
  /** Each gathered dataset's pending count and the trigger's decision on it now. */
  decisions(): Array<{ dataset: FinetuneDataset; pending: number; decision: TriggerDecision }>;
  /** Opens a window if the dataset is due (re-checked atomically), resetting its pending count. */
  fireIfDue(name: string): WindowRow | null;
  window(id: number): WindowRow | null;
  pendingWindows(): WindowRow[];
  lastWindow(dataset: string): WindowRow | null;
  snapshot(dataset: string, cutSeq: number): { items: unknown[]; versions: Array<{ key: string; version: number }> };
  documentsAt(dataset: string, cutSeq: number): DatasetDocument[];
  feedbackAt(dataset: string, cutSeq: number): FeedbackItem[];
  /**
   * Records the window's job before any launch: a new one for a new version; the version's existing
   * job otherwise — except for a manual trigger of a version whose job failed or was cancelled, which
   * gets a retry job under a new key (`<version>-r<n>`).
   */
  windowPinned(windowId: number, pinned: { version: string; items: number; launcher: JobRow['launcher'] }): JobRow;
  windowEmpty(windowId: number, message: string): void;
  windowRetry(windowId: number, message: string, nextAtMs: number): void;
  windowFailed(windowId: number, message: string): void;
  prune(dataset: string): void;
  job(id: string): JobRow | null;
  jobs(): JobRow[];
  activeJobs(): JobRow[];
  /**
   * Changes a job; null (and nothing written) when the job is final, or when `ifRev` is given and the
   * job changed since that revision was read.
   */
  updateJob(id: string, patch: Partial<Pick<JobRow, 'state' | 'externalId' | 'model' | 'error' | 'nextAttemptAtMs'>> & { attempt?: true; launched?: true }, opts?: { ifRev?: number }): JobRow | null;
  status(name: string): FinetuneDatasetStatus | null;
  /** Puts the status of every changed dataset in the outbox (and marks it published), atomically; returns how many. */
  enqueueStatuses(): number;
  dirtyDatasets(): string[];
  clearDirty(names: readonly string[]): void;
  markDirty(names: readonly string[]): void;
  outbox(limit: number): OutboxRow[];
  ackOutbox(upToSeq: number): void;
  instruction(key: string): string | null;
  saveInstruction(key: string, instruction: string): void;
}
