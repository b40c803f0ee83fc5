import { topicPartitions } from '../../common/log-pages.ts';
import type { EventLog } from '../../ports/event-log.ts';
import type { ValueCodec } from '../../ports/value-codec.ts';
import type { GroupLagStatus } from '../../schemas/lag-status.ts';
import { Topics } from '../../schemas/topics.ts';
import type { LagReport } from './lag-monitor.ts';

/**
 * The latest lag evaluation as published on tributary.ops.lag, for processes that don't run the
 * monitor themselves (the API beside `tributary consume lag-monitor`). Reads only the tail of the
 * topic; a group's status older than three monitor intervals is stale and left out.
 */
export async function readLatestLagReport(log: EventLog, codec: ValueCodec, opts: { now?: number; topic?: string; tailRecords?: number } = {}): Promise<LagReport | null> {
  const topic = opts.topic ?? Topics.opsLag;
  const tail = opts.tailRecords ?? 128;
  const now = opts.now ?? Date.now();
  const latest = new Map<string, GroupLagStatus>();
  for (const p of await topicPartitions(log, topic)) {
    if (p.end <= p.start) continue;
    const from = Math.max(p.start, p.end - tail);
    for (const rec of await log.read(topic, p.partition, from, p.end - from)) {
      if (rec.value === null) continue;
      let g: GroupLagStatus;
      try { g = await codec.decode(Topics.opsLag, rec.value); } catch { continue; }
      const seen = latest.get(g.group);
      if (!seen || g.evaluatedAtMs >= seen.evaluatedAtMs) latest.set(g.group, g);
    }
  }
  const fresh = [...latest.values()].filter((g) => now - g.evaluatedAtMs <= 3 * g.intervalMs + 1000);
  if (fresh.length === 0) return null;
  return { evaluatedAtMs: Math.max(...fresh.map((g) => g.evaluatedAtMs)), groups: fresh.sort((a, b) => a.group.localeCompare(b.group)) };
}
