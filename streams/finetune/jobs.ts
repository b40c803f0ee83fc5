import type { FinetuneDataset, FinetuneJob } from '../../schemas/finetune.ts';
import type { JobRow } from '../../ports/finetune-state.ts';

/** What makes a dataset the same dataset: a changed source, filter or format is a new one (its items are gathered again). */
export function datasetSignature(d: FinetuneDataset): string {
  return JSON.stringify({ source: d.source, filter: d.filter ?? null, format: d.format, instructions: d.instructions });
}

/** A job's id: its dataset and version (one job per version). */
export function jobIdOf(dataset: string, version: string): string {
  return `${dataset}-${version}`;
}

const iso = (ms: number) => new Date(ms).toISOString();

/** A job as published on tributary.finetune.jobs and served by the API. */
export function toJobRecord(j: JobRow): FinetuneJob {
  return {
    id: j.id, dataset: j.dataset, datasetVersion: j.datasetVersion, idempotencyKey: j.idempotencyKey, items: j.items, state: j.state, launcher: j.launcher,
    externalId: j.externalId, model: j.model, error: j.error, attempts: j.attempts, trigger: j.trigger, requestIds: j.requestIds,
    createdAt: iso(j.createdAtMs), updatedAt: iso(j.updatedAtMs),
  };
}
