import type { PartitionOffsets } from '../../ports/event-log.ts';
import { CDC_TOPIC, Groups, Topics } from '../../schemas/topics.ts';
import type { System } from '../../wiring/system.ts';

/**
 * Consumer lag per group, topic and partition: the high watermark minus the committed offset.
 * A partition a group has not committed on counts from 0.
 */

/**
 * Topics each pipeline consumer group reads. StageConsumer exposes its group but not its topics,
 * so this mirrors wiring/system.ts; a consumer whose group is missing here shows up once it commits.
 */
const CONSUMER_TOPICS: Readonly<Record<string, readonly string[]>> = {
  [Groups.clean]: [CDC_TOPIC],
  [Groups.embed]: [Topics.cleaned],
};

export interface LagRow {
  group: string;
  topic: string;
  partition: number;
  committed: number;
  end: number;
  lag: number;
}

export async function consumerLag(system: Pick<System, 'log' | 'consumers'>): Promise<LagRow[]> {
  const committedRows = await system.log.groupOffsets();
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
  for (const c of system.consumers) for (const t of CONSUMER_TOPICS[c.status.group] ?? []) want(c.status.group, t);

  const ends = new Map<string, PartitionOffsets[]>();
  for (const topic of new Set([...topicsOf.values()].flatMap((s) => [...s]))) {
    ends.set(topic, await system.log.offsets(topic));
  }
  const rows: LagRow[] = [];
  for (const [group, topics] of topicsOf) {
    for (const topic of topics) {
      for (const p of ends.get(topic) ?? []) {
        const c = committed.get(`${group}\u0000${topic}\u0000${p.partition}`) ?? 0;
        rows.push({ group, topic, partition: p.partition, committed: c, end: p.end, lag: Math.max(0, p.end - c) });
      }
    }
  }
  return rows.sort((a, b) => a.group.localeCompare(b.group) || a.topic.localeCompare(b.topic) || a.partition - b.partition);
}
