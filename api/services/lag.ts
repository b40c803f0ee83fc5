import type { PartitionOffsets } from '../../ports/event-log.ts';
import { readLatestLagReport, type LagReport } from '../../consumers/lag-monitor/index.ts';
import type { LagStatus } from '../../streams/lag/index.ts';
import { topicsOfGroup } from '../../schemas/topics.ts';
import type { ApiContext } from '../context.ts';

/**
 * Consumer lag per group, topic and partition: the high watermark minus the committed offset.
 * A partition a group has not committed on counts from 0.
 * Cheap on purpose: committed and end offsets are read fresh (two log calls per topic); lag in
 * seconds and the status come from the lag monitor's last evaluation (in this process, else the
 * tail of tributary.ops.lag), never from reading records per request.
 */

export interface LagRow {
  group: string;
  topic: string;
  partition: number;
  committed: number;
  end: number;
  lag: number;
  /** Age of the next unconsumed record, from the monitor's last evaluation; 0 when caught up; null when no evaluation is at hand. */
  lagSeconds: number | null;
  /** Burrow status from the monitor's last evaluation; null when none is at hand (monitor not running, or the group not monitored). */
  status: LagStatus | null;
}

type LagSystem = Pick<ApiContext, 'log' | 'consumers'> & Partial<Pick<ApiContext, 'lagMonitor' | 'codec'>>;

/** The monitor's last evaluation: in this process if it runs here, else what it published. */
async function latestEvaluation(ctx: LagSystem): Promise<LagReport | null> {
  const inProcess = ctx.lagMonitor?.latest();
  if (inProcess) return inProcess;
  if (!ctx.codec) return null;
  try {
    return await readLatestLagReport(ctx.log, ctx.codec);
  } catch {
    return null;
  }
}

export async function consumerLag(ctx: LagSystem): Promise<LagRow[]> {
  const [committedRows, evaluation] = await Promise.all([ctx.log.groupOffsets(), latestEvaluation(ctx)]);
  const committed = new Map<string, number>();
  const topicsOf = new Map<string, Set<string>>();
  const want = (group: string, topic: string) => {
    let s = topicsOf.get(group);
    if (!s) topicsOf.set(group, (s = new Set()));
    s.add(topic);
  };
  for (const g of committedRows) {
    committed.set(`${g.group}\u0000${g.topic}\u0000${g.partition}`, g.committed);
    want(g.group, g.topic);
  }
  for (const c of ctx.consumers) for (const t of topicsOfGroup(c.status.group)) want(c.status.group, t);

  const evaluated = new Map<string, { lagSeconds: number; status: LagStatus }>();
  for (const g of evaluation?.groups ?? []) {
    for (const p of g.partitions) evaluated.set(`${g.group}\u0000${p.topic}\u0000${p.partition}`, { lagSeconds: p.lagSeconds, status: p.status });
  }

  const ends = new Map<string, PartitionOffsets[]>();
  for (const topic of new Set([...topicsOf.values()].flatMap((s) => [...s]))) {
    ends.set(topic, await ctx.log.offsets(topic));
  }
  const rows: LagRow[] = [];
  for (const [group, topics] of topicsOf) {
    for (const topic of topics) {
      for (const p of ends.get(topic) ?? []) {
        const key = `${group}\u0000${topic}\u0000${p.partition}`;
        const c = committed.get(key) ?? 0;
        const lag = Math.max(0, p.end - c);
        const ev = evaluated.get(key);
        // caught up now: nothing is waiting, whatever the last evaluation measured
        const lagSeconds = ev === undefined ? null : lag === 0 ? 0 : ev.lagSeconds;
        rows.push({ group, topic, partition: p.partition, committed: c, end: p.end, lag, lagSeconds, status: ev?.status ?? null });
      }
    }
  }
  return rows.sort((a, b) => a.group.localeCompare(b.group) || a.topic.localeCompare(b.topic) || a.partition - b.partition);
}
