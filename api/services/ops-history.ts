import type { Logger } from 'pino';
import { worseStatus, type LagStatus } from '../../streams/lag/index.ts';
import type { LagRow } from './lag.ts';

/**
 * What the operators' page (/ops) draws over time: consumer lag per group (and per group and topic)
 * and freshness p50/p99, sampled every `intervalMs` into a ring buffer kept in the API process
 * (about an hour: nothing is written anywhere, a restart starts it afresh).
 *
 * Freshness quantiles are those of the observations made during each interval: the difference of a
 * prom-client histogram's cumulative bucket counts between two samples, with the quantile
 * interpolated linearly inside its bucket (as Prometheus' histogram_quantile does). A histogram with
 * no observation in an interval gives null quantiles; in a process that runs no pipeline consumer
 * (a distributed API) the pipeline's histogram stays empty.
 */

export const OPS_HISTORY_DEFAULTS = { intervalMs: 5000, retentionMs: 60 * 60_000 } as const;

export interface OpsHistoryOptions {
  /** Time between samples (default 5 s). */
  intervalMs?: number;
  /** How far back samples are kept (default 1 hour). */
  retentionMs?: number;
}

/** Quantiles of the observations of one interval, in seconds; null without any. */
export interface IntervalQuantiles {
  count: number;
  p50: number | null;
  p99: number | null;
}

export interface OpsHistorySample {
  atMs: number;
  groups: Array<{
    group: string;
    /** Records waiting, over all the group's topics and partitions. */
    lag: number;
    /** The largest age of a waiting record (s); null when the lag monitor has not evaluated the group. */
    maxLagSeconds: number | null;
    /** The worst Burrow status of its partitions; null when none was evaluated. */
    status: LagStatus | null;
    topics: Array<{ topic: string; lag: number }>;
  }>;
  freshness: {
    /** Source write to searchable, through the pipeline (tributary_freshness_seconds). */
    pipeline: IntervalQuantiles;
    /** The synthetic probe's document, store to searchable (tributary_freshness_probe_seconds). */
    probe: IntervalQuantiles;
  };
}

/** A histogram as prom-client's `get()` gives it (labels other than `le` are summed over). */
export interface HistogramSource {
  get(): Promise<{ values: ReadonlyArray<{ value: number; metricName?: string; labels: Readonly<Record<string, string | number | undefined>> }> }>;
}

/** Cumulative counts by upper bound, ascending (the last bound is +Infinity). */
export type Buckets = ReadonlyArray<{ le: number; count: number }>;

export async function readBuckets(h: HistogramSource): Promise<Buckets> {
  const byLe = new Map<number, number>();
  for (const v of (await h.get()).values) {
    if (!v.metricName?.endsWith('_bucket')) continue;
    const raw = v.labels['le'];
    const le = raw === '+Inf' ? Infinity : Number(raw);
    if (Number.isNaN(le)) continue;
    byLe.set(le, (byLe.get(le) ?? 0) + v.value);
  }
  return [...byLe].map(([le, count]) => ({ le, count })).sort((a, b) => a.le - b.le);
}

/** The observations made between two readings of one histogram (a reset, e.g. a new registry, counts from 0). */
export function bucketDelta(before: Buckets | null, after: Buckets): Buckets {
  if (!before) return after;
  const prev = new Map(before.map((b) => [b.le, b.count]));
  const reset = after.some((b) => b.count < (prev.get(b.le) ?? 0));
  return reset ? after : after.map((b) => ({ le: b.le, count: b.count - (prev.get(b.le) ?? 0) }));
}

/**
 * The q-quantile of cumulative bucket counts, interpolated linearly within its bucket (the first
 * bucket starts at 0); in the +Inf bucket, the largest finite bound. null when there is no observation.
 */
export function estimateQuantile(buckets: Buckets, q: number): number | null {
  const total = buckets.at(-1)?.count ?? 0;
  if (total <= 0) return null;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const b of buckets) {
    if (b.count >= rank && b.count > below) {
      if (b.le === Infinity) return lower;
      return lower + (b.le - lower) * ((rank - below) / (b.count - below));
    }
    if (b.le !== Infinity) lower = b.le;
    below = b.count;
  }
  return lower;
}

function quantiles(delta: Buckets): IntervalQuantiles {
  const count = delta.at(-1)?.count ?? 0;
  const round = (v: number | null) => (v === null ? null : Math.round(v * 10_000) / 10_000);
  return { count, p50: round(estimateQuantile(delta, 0.5)), p99: round(estimateQuantile(delta, 0.99)) };
}

/** Lag rows summed per group, and per group and topic, in the rows' order. */
export function summariseLag(rows: readonly LagRow[]): OpsHistorySample['groups'] {
  const groups = new Map<string, OpsHistorySample['groups'][number]>();
  for (const r of rows) {
    let g = groups.get(r.group);
    if (!g) groups.set(r.group, (g = { group: r.group, lag: 0, maxLagSeconds: null, status: null, topics: [] }));
    g.lag += r.lag;
    if (r.lagSeconds !== null) g.maxLagSeconds = Math.max(g.maxLagSeconds ?? 0, r.lagSeconds);
    if (r.status !== null) g.status = g.status === null ? r.status : worseStatus(g.status, r.status);
    const t = g.topics.find((x) => x.topic === r.topic);
    if (t) t.lag += r.lag;
    else g.topics.push({ topic: r.topic, lag: r.lag });
  }
  return [...groups.values()];
}

export interface OpsHistoryDeps {
  /** Current lag rows (services/lag.ts). */
  lag(): Promise<LagRow[]>;
  freshness: { pipeline: HistogramSource; probe: HistogramSource };
  logger: Logger;
  now?: () => number;
}

export class OpsHistory {
  readonly intervalMs: number;
  readonly retentionMs: number;
  private readonly samples: OpsHistorySample[] = [];
  private readonly capacity: number;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> | null = null;
  private last: { pipeline: Buckets | null; probe: Buckets | null } = { pipeline: null, probe: null };
  private failing = false;
  private readonly deps: OpsHistoryDeps;

  constructor(deps: OpsHistoryDeps, opts: OpsHistoryOptions = {}) {
    this.deps = deps;
    this.intervalMs = opts.intervalMs ?? OPS_HISTORY_DEFAULTS.intervalMs;
    this.retentionMs = opts.retentionMs ?? OPS_HISTORY_DEFAULTS.retentionMs;
    this.capacity = Math.max(1, Math.ceil(this.retentionMs / this.intervalMs));
    this.now = deps.now ?? Date.now;
  }

  /** Takes the freshness baseline, then a sample every interval (the timer does not hold the process open). */
  start(): void {
    if (this.timer) return;
    this.running = this.baseline().finally(() => { this.running = null; });
    this.timer = setInterval(() => {
      if (this.running) return; // the last sample is still being taken
      this.running = this.sample().finally(() => { this.running = null; });
    }, this.intervalMs);
    this.timer.unref();
  }

  /** Stops sampling and waits for a sample being taken. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }

  /** Samples kept whose time is after `sinceMs` (all when undefined), oldest first. */
  since(sinceMs?: number): OpsHistorySample[] {
    return sinceMs === undefined ? [...this.samples] : this.samples.filter((s) => s.atMs > sinceMs);
  }

  /** Takes one sample now and keeps it; null (and a warning, once per outage) when the lag cannot be read. */
  async sample(): Promise<OpsHistorySample | null> {
    try {
      const [rows, pipeline, probe] = await Promise.all([
        this.deps.lag(), readBuckets(this.deps.freshness.pipeline), readBuckets(this.deps.freshness.probe),
      ]);
      const s: OpsHistorySample = {
        atMs: this.now(),
        groups: summariseLag(rows),
        freshness: { pipeline: quantiles(bucketDelta(this.last.pipeline, pipeline)), probe: quantiles(bucketDelta(this.last.probe, probe)) },
      };
      this.last = { pipeline, probe };
      this.samples.push(s);
      const cutoff = s.atMs - this.retentionMs;
      while (this.samples.length > this.capacity || (this.samples[0] && this.samples[0].atMs < cutoff)) this.samples.shift();
      if (this.failing) this.deps.logger.info({ event: 'ops.history.recovered' }, 'ops history: sampling again');
      this.failing = false;
      return s;
    } catch (e) {
      if (!this.failing) this.deps.logger.warn({ event: 'ops.history.failed', err: (e as Error).message }, 'ops history: a sample failed (lag or metrics unreadable); retrying every interval');
      this.failing = true;
      return null;
    }
  }

  private async baseline(): Promise<void> {
    try {
      const [pipeline, probe] = await Promise.all([readBuckets(this.deps.freshness.pipeline), readBuckets(this.deps.freshness.probe)]);
      this.last = { pipeline, probe };
    } catch {
      // the first sample then counts every observation so far
    }
  }
}
