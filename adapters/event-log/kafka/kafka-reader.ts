import { TributaryError } from '../../../ports/errors.ts';
import type { LogRecord, PartitionOffsets } from '../../../ports/event-log.ts';
import type { KafkaClients } from './kafka-clients.ts';
import { toLogError } from './kafka-errors.ts';
import { toLogRecord } from './kafka-records.ts';
import { READ_COMMITTED, type RawMessage, type RawPartitionResponse } from './kafkajs-internals.ts';

/**
 * Reads partitions from an offset without joining a consumer group (`read`, DLQ listing, the last
 * record's timestamp for lag), through kafkajs's cluster client: one fetch per partition leader,
 * maxWaitTime 0 (what is there), READ_COMMITTED.
 */
export class KafkaReader {
  private readonly clients: KafkaClients;
  /** The partitions' offsets, for a read that starts below the log start. */
  private readonly offsetsOf: (topic: string) => Promise<PartitionOffsets[]>;

  constructor(clients: KafkaClients, offsetsOf: (topic: string) => Promise<PartitionOffsets[]>) {
    this.clients = clients;
    this.offsetsOf = offsetsOf;
  }

  async read(topic: string, partition: number, offset: number, maxRecords: number): Promise<LogRecord[]> {
    const out: LogRecord[] = [];
    let next = offset;
    for (let round = 0; out.length < maxRecords && round < 10_000; round++) {
      const { messages, highWatermark, outOfRange } = await this.fetchFrom(topic, partition, next, 1024 * 1024);
      if (outOfRange) {
        // below the log start (retention, compaction): go on from the first record still present
        const start = (await this.offsetsOf(topic)).find((p) => p.partition === partition)?.start ?? next;
        if (start > next) { next = start; continue; }
        break;
      }
      // a fetch returns whole record batches: skip records before `next` (and control records)
      const fresh = messages.filter((m) => !m.isControlRecord && Number(m.offset) >= next);
      for (const m of fresh) {
        out.push(toLogRecord(topic, partition, m));
        next = Number(m.offset) + 1;
        if (out.length >= maxRecords) break;
      }
      if (fresh.length === 0) {
        const maxSeen = messages.reduce((mx, m) => Math.max(mx, Number(m.offset)), -1);
        if (maxSeen >= next) { next = maxSeen + 1; continue; } // only control records there
        break;
      }
      if (next >= highWatermark) break;
    }
    return out;
  }

  private async fetchFrom(topic: string, partition: number, offset: number, maxBytes: number): Promise<{ messages: RawMessage[]; highWatermark: number; outOfRange: boolean }> {
    try {
      const [p] = await this.fetchPartitions(topic, [{ partition, offset }], maxBytes);
      return { messages: p?.messages ?? [], highWatermark: Number(p?.highWatermark ?? offset), outOfRange: false };
    } catch (e) {
      if ((e as { type?: string }).type === 'OFFSET_OUT_OF_RANGE' || (e as { name?: string }).name === 'KafkaJSOffsetOutOfRange') {
        return { messages: [], highWatermark: offset, outOfRange: true };
      }
      throw toLogError(e, `read ${topic}/${partition} from offset ${offset}`);
    }
  }

  /** One fetch per partition leader for several partitions of a topic (maxWaitTime 0: what is there). */
  fetchPartitions(topic: string, wanted: Array<{ partition: number; offset: number }>, maxBytes: number): Promise<RawPartitionResponse[]> {
    return this.clients.rawRequest(async (cluster) => {
      await cluster.addTargetTopic(topic);
      const ids = wanted.map((w) => w.partition);
      let leaders = cluster.findLeaderForPartitions(topic, ids);
      if (Object.values(leaders).flat().length < ids.length) {
        await cluster.refreshMetadata();
        leaders = cluster.findLeaderForPartitions(topic, ids);
      }
      if (Object.values(leaders).flat().length < ids.length) throw new TributaryError('NOT_FOUND', `partition(s) ${ids.join(', ')} of topic "${topic}" not found`);
      const out: RawPartitionResponse[] = [];
      for (const [nodeId, partitions] of Object.entries(leaders)) {
        const broker = await cluster.findBroker({ nodeId });
        const { responses } = await broker.fetch({
          isolationLevel: READ_COMMITTED, maxWaitTime: 0, minBytes: 1, maxBytes: maxBytes * partitions.length,
          topics: [{ topic, partitions: partitions.map((partition) => ({ partition, fetchOffset: String(wanted.find((w) => w.partition === partition)!.offset), maxBytes })) }],
        });
        out.push(...(responses.find((r) => r.topicName === topic)?.partitions ?? []));
      }
      return out;
    });
  }
}
