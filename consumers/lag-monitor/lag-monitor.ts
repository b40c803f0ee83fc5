import type { Logger } from 'pino';
import { findTributaryError, toTributaryError } from '../../ports/errors.ts';
import type { EventLog, PartitionOffsets } from '../../ports/event-log.ts';
import type { ValueCodec } from '../../ports/value-codec.ts';
import type { GroupLagStatus, PartitionLag } from '../../schemas/lag-status.ts';
import { Groups, Topics } from '../../schemas/topics.ts';
import { LAG_STATUS_VALUE, SnapshotWindows, evaluatePartition, worstStatus, type LagRules, type LagStatus } from '../../streams/lag/index.ts';
import { LogEvents, type Metrics } from '../../observability/metrics.ts';

/**
 * The lag monitor: every `intervalMs` it snapshots every group's committed offsets and every
 * partition's high watermark through the EventLog port (so it works on the embedded log and on
 * Kafka alike), evaluates each partition with Burrow's rules over a window of `windowSize`
 * snapshots (streams/lag), measures lag in seconds from record timestamps, then exports gauges and
 * publishes one status record per group to tributary.ops.lag (key = group).
 */

export const LAG_MONITOR_DEFAULTS = { intervalMs: 5000, windowSize: 10 } as const;

/** Groups that are not consumers: DLQ replay progress markers (their "lag" is pending DLQ entries). */
export const DEFAULT_EXCLUDED_GROUPS = /^dlq-replay\./;

export interface LagMonitorOptions {
  log: EventLog;
  codec: ValueCodec;
  metrics: Metrics;
  logger: Logger;
  intervalMs?: number;
  windowSize?: number;
  /** Consumer groups to show before their first commit (group → topics), counted from offset 0. */
  expected?: ReadonlyArray<{ group: string; topics: readonly string[] }>;
  exclude?: RegExp;
  /** Where status records go; null = don't publish. */
  topic?: string | null;
  clock?: () => number;
}

export interface LagReport {
  evaluatedAtMs: number;
  groups: GroupLagStatus[];
}

interface Tracked { group: string; topic: string; partition: number; committed: number; committedAt: number | null }

const keyOf = (group: string, topic: string, partition: number) => `${group}\u0000${topic}\u0000${partition}`;

export class LagMonitor {
  readonly name = 'lag-monitor';
  readonly rules: LagRules;
  private readonly o: LagMonitorOptions;
  private readonly windows: SnapshotWindows;
  private readonly clock: () => number;
  private readonly exclude: RegExp;
  private readonly topic: string | null;
  /** Timestamp of the record at an offset, per partition: the next unconsumed record's age is read once per offset. */
  private readonly recordTs = new Map<string, { offset: number; ts: number }>();
  private readonly lastGroupStatus = new Map<string, LagStatus>();
  private report: LagReport | null = null;
  private timer: NodeJS.Timeout | null = null;
  private inFlight: Promise<unknown> | null = null;
  private stopping = false;
  private started = false;
  private failures = 0;
  private lastError: string | null = null;

  constructor(options: LagMonitorOptions) {
    this.o = options;
    this.rules = { intervalMs: options.intervalMs ?? LAG_MONITOR_DEFAULTS.intervalMs, windowSize: options.windowSize ?? LAG_MONITOR_DEFAULTS.windowSize };
    this.windows = new SnapshotWindows(this.rules.windowSize);
    this.clock = options.clock ?? Date.now;
    this.exclude = options.exclude ?? DEFAULT_EXCLUDED_GROUPS;
    this.topic = options.topic === undefined ? Topics.opsLag : options.topic;
  }

  get running(): boolean { return this.started && !this.stopping; }

  get status(): { name: string; group: string; running: boolean; degraded: boolean; lastError: string | null } {
    return { name: this.name, group: Groups.lagMonitor, running: this.running, degraded: this.failures > 0, lastError: this.lastError };
  }

  /** The last evaluation, or null before the first one. */
  latest(): LagReport | null {
    return this.report;
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.stopping = false;
    this.o.metrics.consumerRunning.set({ consumer: this.name }, 1);
    this.o.logger.info({ event: LogEvents.consumerStarted, consumer: this.name, intervalMs: this.rules.intervalMs, windowSize: this.rules.windowSize });
    const loop = async () => {
      if (this.stopping) return;
      const run = this.tick().catch(() => {});
      this.inFlight = run;
      await run;
      this.inFlight = null;
      if (!this.stopping) {
        this.timer = setTimeout(loop, this.rules.intervalMs);
        this.timer.unref();
      }
    };
    void loop();
  }

  async stop(): Promise<void> {
    if (!this.started || this.stopping) return;
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    await this.inFlight;
    this.started = false;
    this.o.metrics.consumerRunning.set({ consumer: this.name }, 0);
    this.o.logger.info({ event: LogEvents.consumerStopped, consumer: this.name });
  }

  /** One evaluation: snapshot, evaluate, export, publish. Errors are logged, counted and rethrown. */
  async tick(): Promise<LagReport> {
    try {
      const report = await this.evaluate();
      this.export(report);
      await this.publish(report);
      this.report = report;
      this.failures = 0;
      this.lastError = null;
      return report;
    } catch (err) {
      const te = toTributaryError(err);
      this.failures++;
      this.lastError = `${te.code}: ${te.message}`;
      this.o.logger.warn({ event: LogEvents.lagMonitorFailed, code: te.code, err: te.message, failures: this.failures });
      throw err;
    }
  }

  private async evaluate(): Promise<LagReport> {
    const { log } = this.o;
    const committed = await log.groupOffsets();
    const tracked = new Map<string, Tracked>();
    for (const g of committed) {
      if (this.exclude.test(g.group)) continue;
      tracked.set(keyOf(g.group, g.topic, g.partition), { group: g.group, topic: g.topic, partition: g.partition, committed: g.committed, committedAt: g.committedAt });
    }
    const ends = new Map<string, PartitionOffsets[]>();
    const offsetsOf = async (topic: string): Promise<PartitionOffsets[]> => {
      let o = ends.get(topic);
      if (!o) {
        try { o = await log.offsets(topic); } catch (e) {
          if (findTributaryError(e)?.code !== 'NOT_FOUND') throw e;
          o = [];
        }
        ends.set(topic, o);
      }
      return o;
    };
    for (const e of this.o.expected ?? []) {
      for (const topic of e.topics) {
        for (const p of await offsetsOf(topic)) {
          const k = keyOf(e.group, topic, p.partition);
          if (!tracked.has(k)) tracked.set(k, { group: e.group, topic, partition: p.partition, committed: 0, committedAt: null });
        }
      }
    }

    const now = this.clock();
    const byGroup = new Map<string, PartitionLag[]>();
    const keep = new Set<string>();
    for (const [k, t] of tracked) {
      const po = (await offsetsOf(t.topic)).find((p) => p.partition === t.partition);
      if (!po) continue;
      keep.add(k);
      const window = this.windows.push(k, { at: now, committed: t.committed, committedAt: t.committedAt, end: po.end });
      const verdict = evaluatePartition(window, now, this.rules);
      const lagSeconds = verdict.lag === 0 ? 0 : await this.ageOfNext(t.topic, t.partition, Math.max(t.committed, po.start), now, po);
      let rows = byGroup.get(t.group);
      if (!rows) byGroup.set(t.group, (rows = []));
      rows.push({
        topic: t.topic, partition: t.partition, committed: t.committed, end: po.end, lag: verdict.lag,
        lagSeconds, status: verdict.status, reason: verdict.reason, complete: verdict.complete,
      });
    }
    for (const gone of this.windows.retain(keep)) this.forget(gone);

    const groups: GroupLagStatus[] = [...byGroup].map(([group, partitions]) => {
      partitions.sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition);
      return {
        group,
        status: worstStatus(partitions.map((p) => p.status)),
        evaluatedAtMs: now,
        totalLag: partitions.reduce((n, p) => n + p.lag, 0),
        maxLagSeconds: Math.max(0, ...partitions.map((p) => p.lagSeconds)),
        intervalMs: this.rules.intervalMs,
        windowSize: this.rules.windowSize,
        partitions,
      };
    }).sort((a, b) => a.group.localeCompare(b.group));
    return { evaluatedAtMs: now, groups };
  }

  /** Seconds since the record at `offset` (the next one the group will read) was written. */
  private async ageOfNext(topic: string, partition: number, offset: number, now: number, po: PartitionOffsets): Promise<number> {
    const k = `${topic}\u0000${partition}`;
    let cached = this.recordTs.get(k);
    if (cached?.offset !== offset) {
      const [rec] = await this.o.log.read(topic, partition, offset, 1);
      // nothing readable at or after the offset (retention raced us): fall back to the last record's time
      const ts = rec?.timestamp ?? po.lastTimestamp ?? now;
      cached = { offset, ts };
      this.recordTs.set(k, cached);
    }
    return Math.max(0, (now - cached.ts) / 1000);
  }

  private forget(key: string): void {
    const [group, topic, partition] = key.split('\u0000') as [string, string, string];
    const labels = { group, topic, partition };
    this.o.metrics.consumerLag.remove(labels);
    this.o.metrics.consumerLagSeconds.remove(labels);
    this.o.metrics.consumerLagStatus.remove(labels);
  }

  private export(report: LagReport): void {
    const m = this.o.metrics;
    const seen = new Set<string>();
    for (const g of report.groups) {
      seen.add(g.group);
      m.consumerGroupStatus.set({ group: g.group }, LAG_STATUS_VALUE[g.status]);
      for (const p of g.partitions) {
        const labels = { group: g.group, topic: p.topic, partition: String(p.partition) };
        m.consumerLag.set(labels, p.lag);
        m.consumerLagSeconds.set(labels, p.lagSeconds);
        m.consumerLagStatus.set(labels, LAG_STATUS_VALUE[p.status]);
      }
      const before = this.lastGroupStatus.get(g.group);
      if (before !== g.status) {
        const worst = g.partitions.find((p) => p.status === g.status);
        const level = g.status === 'OK' ? 'info' : 'warn';
        this.o.logger[level]({ event: LogEvents.lagStatusChanged, group: g.group, from: before ?? null, to: g.status, totalLag: g.totalLag, maxLagSeconds: g.maxLagSeconds, topic: worst?.topic, partition: worst?.partition, reason: worst?.reason });
        this.lastGroupStatus.set(g.group, g.status);
      }
    }
    for (const group of [...this.lastGroupStatus.keys()]) {
      if (!seen.has(group)) {
        this.lastGroupStatus.delete(group);
        m.consumerGroupStatus.remove({ group });
      }
    }
  }

  private async publish(report: LagReport): Promise<void> {
    if (this.topic === null || report.groups.length === 0) return;
    const records = [];
    for (const g of report.groups) records.push({ key: g.group, value: await this.o.codec.encode(Topics.opsLag, g), timestamp: report.evaluatedAtMs });
    await this.o.log.append(this.topic, records);
  }
}
