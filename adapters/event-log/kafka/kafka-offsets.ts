import { TributaryError } from '../../../ports/errors.ts';
import type { GroupOffset, PartitionOffsets } from '../../../ports/event-log.ts';
import type { KafkaClients } from './kafka-clients.ts';
import { commitMetadata, committedAtFromMetadata } from './kafka-commit-metadata.ts';
import { toLogError } from './kafka-errors.ts';
import type { KafkaReader } from './kafka-reader.ts';

/**
 * Offsets on Kafka for tools (lag, replay, reset): each partition's start and end with its last
 * record's timestamp, the groups' committed offsets (with the commit time from the offset
 * metadata), and a standalone commit of a group's offset (generation -1, no member: what Kafka's
 * AdminClient.alterConsumerGroupOffsets does), refused while the group has running members.
 */
export class KafkaOffsets {
  private readonly clients: KafkaClients;
  private readonly reader: KafkaReader;

  constructor(clients: KafkaClients, reader: KafkaReader) {
    this.clients = clients;
    this.reader = reader;
  }

  async offsets(topic: string): Promise<PartitionOffsets[]> {
    const admin = await this.clients.adminClient();
    let rows: Array<{ partition: number; high: string; low: string }>;
    try {
      if (!(await admin.listTopics()).includes(topic)) throw new TributaryError('NOT_FOUND', `topic "${topic}" does not exist; create it with ensureTopics (tributary topics apply)`);
      rows = await admin.fetchTopicOffsets(topic);
    } catch (e) {
      throw toLogError(e, `read offsets of ${topic}`);
    }
    const out: PartitionOffsets[] = rows
      .map((r) => ({ topic, partition: r.partition, end: Number(r.high), start: Number(r.low), lastTimestamp: null as number | null }))
      .sort((a, b) => a.partition - b.partition);
    // the last record's timestamp, for lag in seconds: one small fetch (per leader) of every non-empty partition's last record
    const nonEmpty = out.filter((p) => p.end > p.start);
    if (nonEmpty.length > 0) {
      try {
        const fetched = await this.reader.fetchPartitions(topic, nonEmpty.map((p) => ({ partition: p.partition, offset: p.end - 1 })), 64 * 1024);
        for (const f of fetched) {
          const last = f.messages.filter((m) => !m.isControlRecord).at(-1);
          const p = out.find((o) => o.partition === f.partition);
          if (last && p) p.lastTimestamp = Number(last.timestamp);
        }
      } catch { /* a partition compacted or truncated meanwhile: leave the timestamps null */ }
    }
    return out;
  }

  async groupOffsets(group?: string): Promise<GroupOffset[]> {
    const admin = await this.clients.adminClient();
    try {
      const groups = group !== undefined ? [group] : (await admin.listGroups()).groups.map((g) => g.groupId).sort();
      const topics = (await admin.listTopics()).filter((t) => !t.startsWith('__'));
      const out: GroupOffset[] = [];
      for (const g of groups) {
        const res = await admin.fetchOffsets({ groupId: g, topics });
        for (const t of res) {
          for (const p of t.partitions) {
            const committed = Number(p.offset);
            if (!(committed >= 0)) continue;
            out.push({ group: g, topic: t.topic, partition: p.partition, committed, committedAt: committedAtFromMetadata(p.metadata) });
          }
        }
      }
      return out.sort((a, b) => a.group.localeCompare(b.group) || a.topic.localeCompare(b.topic) || a.partition - b.partition);
    } catch (e) {
      throw toLogError(e, 'read group offsets');
    }
  }

  async commit(group: string, topic: string, partition: number, offset: number): Promise<void> {
    try {
      await this.clients.rawRequest(async (cluster) => {
        const coordinator = await cluster.findGroupCoordinator({ groupId: group });
        await coordinator.offsetCommit({
          groupId: group, groupGenerationId: -1, memberId: '', retentionTime: -1,
          topics: [{ topic, partitions: [{ partition, offset: String(offset), metadata: commitMetadata() }] }],
        });
      });
    } catch (e) {
      const te = toLogError(e, `commit ${group} ${topic}/${partition}=${offset}`);
      if (['UNKNOWN_MEMBER_ID', 'ILLEGAL_GENERATION', 'REBALANCE_IN_PROGRESS'].includes((e as { type?: string }).type ?? '')) {
        throw new TributaryError('INVALID_INPUT', `cannot set the offsets of group "${group}" while it has running members; stop its consumers first`, { cause: e });
      }
      throw te;
    }
  }
}
