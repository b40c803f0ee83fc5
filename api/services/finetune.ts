import { randomUUID } from 'node:crypto';
import type { DatasetRegistry } from '../../ports/dataset-registry.ts';
import { TributaryError } from '../../ports/errors.ts';
import type { EventLog } from '../../ports/event-log.ts';
import type { ValueCodec } from '../../ports/value-codec.ts';
import { FINAL_JOB_STATES, type FinetuneCommand, type FinetuneDataset, type FinetuneDatasetStatus, type FinetuneJob } from '../../schemas/finetune.ts';
import type { SchemaTopic, TopicValue } from '../../schemas/registry.ts';
import { Topics } from '../../schemas/topics.ts';
import { sleep } from '../../common/sleep.ts';
import { logPages, topicPartitions } from '../../common/log-pages.ts';

/**
 * What the API knows of continuous training, read from what the finetune-trigger publishes (the
 * latest record per key of tributary.finetune.jobs and tributary.finetune.datasets) — the same in
 * embedded mode and when the trigger is a process of its own — and what it asks of the trigger
 * (tributary.finetune.commands): a manual trigger, a job's status reported by its receiver.
 */

export interface FinetuneView {
  readonly log: EventLog;
  readonly codec: ValueCodec;
  readonly finetune: { readonly datasets: readonly FinetuneDataset[]; readonly registry: DatasetRegistry };
}

const READ_CHUNK = 1000;

/**
 * The latest value per key of a compacted topic with a schema, kept up to date incrementally: each
 * call reads only what was appended since the last one (records that don't decode are skipped).
 */
class LatestByKey<T extends SchemaTopic> {
  private readonly latest = new Map<string, TopicValue<T>>();
  private readonly next = new Map<number, number>();
  private refreshing: Promise<void> = Promise.resolve();
  private readonly log: EventLog;
  private readonly codec: ValueCodec;
  private readonly topic: T;

  constructor(log: EventLog, codec: ValueCodec, topic: T) {
    this.log = log;
    this.codec = codec;
    this.topic = topic;
  }

  async get(): Promise<Map<string, TopicValue<T>>> {
    // one refresh at a time; a caller arriving meanwhile waits for it and then reads what is new
    this.refreshing = this.refreshing.catch(() => undefined).then(() => this.refresh());
    await this.refreshing;
    return this.latest;
  }

  private async refresh(): Promise<void> {
    for (const p of await topicPartitions(this.log, this.topic)) {
      // records below the partition's start were read before, or compacted away behind a later one with the same key
      for await (const recs of logPages(this.log, this.topic, p.partition, Math.max(this.next.get(p.partition) ?? 0, p.start), p.end, READ_CHUNK)) {
        for (const r of recs) {
          if (r.key === null) continue;
          if (r.value === null) { this.latest.delete(r.key); continue; }
          try { this.latest.set(r.key, await this.codec.decode(this.topic, r.value)); } catch { /* a record of another shape: not ours to serve */ }
        }
        this.next.set(p.partition, recs[recs.length - 1]!.offset + 1);
      }
    }
  }
}

const views = new WeakMap<EventLog, Map<string, LatestByKey<SchemaTopic>>>();

/** The shared incremental view of a topic, per event log. */
function latestByKey<T extends SchemaTopic>(log: EventLog, codec: ValueCodec, topic: T): Promise<Map<string, TopicValue<T>>> {
  let byTopic = views.get(log);
  if (!byTopic) views.set(log, byTopic = new Map());
  let view = byTopic.get(topic) as LatestByKey<T> | undefined;
  if (!view) byTopic.set(topic, (view = new LatestByKey(log, codec, topic)) as unknown as LatestByKey<SchemaTopic>);
  return view.get();
}

export async function listJobs(ctx: FinetuneView, filter: { dataset?: string; state?: string; limit?: number } = {}): Promise<FinetuneJob[]> {
  const jobs = [...(await latestByKey(ctx.log, ctx.codec, Topics.finetuneJobs)).values()]
    .filter((j) => (!filter.dataset || j.dataset === filter.dataset) && (!filter.state || j.state === filter.state))
    .sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : a.id < b.id ? 1 : -1));
  return jobs.slice(0, filter.limit ?? 1000);
}

export async function getJob(ctx: FinetuneView, id: string): Promise<FinetuneJob> {
  const job = (await latestByKey(ctx.log, ctx.codec, Topics.finetuneJobs)).get(id);
  if (!job) throw new TributaryError('NOT_FOUND', `no fine-tune job "${id}" (GET /v1/finetune/jobs lists them)`);
  return job;
}

export interface DatasetView {
  name: string;
  source: FinetuneDataset['source'];
  format: FinetuneDataset['format'];
  pending: number;
  threshold: number;
  cooldownMs: number;
  total: number;
  lastVersion: string | null;
  lastLaunchAt: string | null;
  lastWindow: FinetuneDatasetStatus['lastWindow'];
  launcher: FinetuneDataset['launcher']['type'];
  /** When the trigger last reported on it; null: it has not yet (not running, or still gathering). */
  updatedAt: string | null;
}

/** Every configured dataset, with the trigger's last report on it. */
export async function listDatasets(ctx: FinetuneView): Promise<DatasetView[]> {
  const statuses = await latestByKey(ctx.log, ctx.codec, Topics.finetuneDatasets);
  return ctx.finetune.datasets.map((d) => {
    const s = statuses.get(d.name);
    return {
      name: d.name, source: d.source, format: d.format, pending: s?.pending ?? 0, threshold: d.threshold, cooldownMs: d.cooldownMs,
      total: s?.total ?? 0, lastVersion: s?.lastVersion ?? null, lastLaunchAt: s?.lastLaunchAt ?? null, lastWindow: s?.lastWindow ?? null,
      launcher: d.launcher.type, updatedAt: s?.updatedAt ?? null,
    };
  });
}

export function requireDataset(ctx: FinetuneView, name: string): FinetuneDataset {
  const d = ctx.finetune.datasets.find((x) => x.name === name);
  if (!d) {
    const known = ctx.finetune.datasets.map((x) => x.name);
    throw new TributaryError('NOT_FOUND', `no dataset "${name}" is configured (${known.length > 0 ? `known: ${known.join(', ')}` : 'none is: set TRIBUTARY_FINETUNE_DATASETS'})`);
  }
  return d;
}

export interface TriggerOutcome {
  requestId: string;
  dataset: string;
  outcome: 'pending' | 'job' | 'empty' | 'failed';
  job: FinetuneJob | null;
  message: string | null;
}

/**
 * A manual trigger: asks the finetune-trigger to open a window now (whatever the threshold and the
 * cooldown), and waits up to `waitMs` for what became of it. It is exactly-once like the threshold:
 * the window's version is the idempotency key, so a dataset with nothing new since its last version
 * gets that version's job back, never a second one.
 */
export async function requestTrigger(ctx: FinetuneView, dataset: string, waitMs: number, signal?: AbortSignal): Promise<TriggerOutcome> {
  requireDataset(ctx, dataset);
  const requestId = randomUUID();
  const command: FinetuneCommand = { kind: 'trigger', id: requestId, dataset, requestedAtMs: Date.now() };
  await ctx.log.append(Topics.finetuneCommands, [{ key: dataset, value: await ctx.codec.encode(Topics.finetuneCommands, command) }]);
  const deadline = Date.now() + waitMs;
  for (;;) {
    const outcome = await triggerOutcome(ctx, dataset, requestId);
    if (outcome.outcome !== 'pending' || Date.now() >= deadline || signal?.aborted) return outcome;
    await sleep(Math.min(200, Math.max(0, deadline - Date.now())), signal);
  }
}

async function triggerOutcome(ctx: FinetuneView, dataset: string, requestId: string): Promise<TriggerOutcome> {
  const job = (await listJobs(ctx, { dataset })).find((j) => j.requestIds.includes(requestId));
  if (job) {
    const existing = job.trigger !== 'manual' || job.requestIds[0] !== requestId;
    return { requestId, dataset, outcome: 'job', job, message: existing ? `nothing new since version ${job.datasetVersion}: its job ${job.id} (${job.state}) already covers it` : null };
  }
  const status = (await latestByKey(ctx.log, ctx.codec, Topics.finetuneDatasets)).get(dataset);
  const w = status?.lastWindow;
  if (w && w.requestId === requestId && (w.outcome === 'empty' || w.outcome === 'failed')) return { requestId, dataset, outcome: w.outcome, job: null, message: w.message };
  return { requestId, dataset, outcome: 'pending', job: null, message: 'the finetune trigger has not answered yet; follow it with GET /v1/finetune/jobs (is the finetune-trigger consumer running?)' };
}

/** A job's later state, as its receiver reports it (a webhook's job ends at launch on Tributary's side). */
export async function reportJobStatus(ctx: FinetuneView, id: string, report: { state: 'running' | 'succeeded' | 'failed' | 'cancelled'; model?: string; error?: string; externalId?: string }): Promise<{ id: string }> {
  const job = await getJob(ctx, id);
  if (FINAL_JOB_STATES.includes(job.state)) {
    throw new TributaryError('CONFLICT', `job ${id} is already ${job.state}; a final state is not changed`);
  }
  if (job.state !== 'launched' && job.state !== 'running') {
    throw new TributaryError('CONFLICT', `job ${id} is ${job.state}: it has not been launched yet, so there is nothing to report on (try again once it is launched)`);
  }
  const requestId = randomUUID();
  const command: FinetuneCommand = { kind: 'job-status', id: requestId, jobId: id, dataset: job.dataset, ...report, requestedAtMs: Date.now() };
  await ctx.log.append(Topics.finetuneCommands, [{ key: job.dataset, value: await ctx.codec.encode(Topics.finetuneCommands, command) }]);
  return { id: requestId };
}
