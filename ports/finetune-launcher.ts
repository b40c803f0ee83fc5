import type { DatasetManifest } from './dataset-registry.ts';

/**
 * Starts a fine-tune job on a pinned dataset version, exactly once per idempotency key (the version
 * id, or a retry's key): `launch` first asks what became of that key (a job found by it is returned,
 * never a second one started), and only starts a job when none exists. So after a crash anywhere
 * the trigger calls `launch` again with the same request and gets the one job.
 *
 * Failures: a launcher that cannot be reached (network, 5xx, 429, 409 "in progress") throws a
 * retryable LAUNCHER_UNAVAILABLE, and the trigger tries again later with the same request; a refusal
 * (4xx, an invalid dataset, a command that cannot be started) throws LAUNCH_REJECTED, and the job is
 * failed with that message.
 */

export interface LaunchFile {
  name: string;
  content: Uint8Array;
  sha256: string;
  bytes: number;
  records: number;
}

export interface LaunchRequest {
  /** Tributary's job id (stable for a dataset version). */
  jobId: string;
  dataset: string;
  /** The pinned version. */
  datasetVersion: string;
  /**
   * The launch's idempotency key: the dataset version for the version's job; `<version>-r<n>` for a
   * retry a person asked for after that job failed (default: the version).
   */
  idempotencyKey?: string;
  format: 'chat-sft' | 'dpo';
  /** Training records in the version. */
  items: number;
  manifest: DatasetManifest;
  files: LaunchFile[];
  /** A directory of this job's own, kept across restarts (the command launcher materialises the dataset and its markers here). */
  workDir: string;
}

export type LaunchState = 'launched' | 'running' | 'succeeded' | 'failed' | 'cancelled';

export interface LaunchStatus {
  /** launched: accepted, and the launcher reports nothing more (a webhook); running: poll again later. */
  state: LaunchState;
  /** The launcher's id for the job (OpenAI job id, the receiver's id, the command's process id). */
  externalId: string | null;
  /** The fine-tuned model, when the job succeeded and the launcher says which. */
  model?: string | null;
  /** Why the job failed or was cancelled. */
  error?: string | null;
}

export interface FinetuneLauncher {
  readonly type: 'webhook' | 'openai' | 'command';
  /** Finds the job of `req.datasetVersion`, or starts it if there is none; returns its status. */
  launch(req: LaunchRequest, signal: AbortSignal): Promise<LaunchStatus>;
  /** The status of a job `launch` returned as running (polled until it is final). `req.files` carry no contents here (empty). */
  poll(req: LaunchRequest, current: LaunchStatus, signal: AbortSignal): Promise<LaunchStatus>;
  close(): Promise<void>;
}
