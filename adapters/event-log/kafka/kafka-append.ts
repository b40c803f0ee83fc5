import type { Message } from 'kafkajs';
import { TributaryError } from '../../../ports/errors.ts';
import type { AppendResult, ProducerRecord } from '../../../ports/event-log.ts';
import { partitionForKey } from '../murmur2.ts';
import type { KafkaClients } from './kafka-clients.ts';
import { isProducerFenced, toLogError } from './kafka-errors.ts';
import type { KafkaTopicAdmin } from './kafka-topic-admin.ts';
import { withTraceContext } from './trace-context.ts';

/** Largest payload of one produce request (a single larger record is sent alone). */
const MAX_SEND_BYTES = 1024 * 1024;

export interface KafkaAppenderOptions {
  clients: KafkaClients;
  topics: KafkaTopicAdmin;
  maxRecordBytes: number;
  requestTimeoutMs: number;
}

/**
 * Appends to Kafka: idempotent producer, acks=all, partition = murmur2(key) % partitions (Kafka's
 * default partitioner, computed here so both logs place a key identically; keyless records go
 * round-robin per topic), resolved once the broker acknowledged. Records over `maxRecordBytes`
 * are refused before anything is sent; every record carries a W3C `traceparent`. Appends go out
 * one request at a time, in call order (kafkajs's idempotent producer breaks with concurrent
 * sends: tulios/kafkajs#598).
 */
export class KafkaAppender {
  private readonly o: KafkaAppenderOptions;
  private sendQueue: Promise<unknown> = Promise.resolve();
  private readonly roundRobin = new Map<string, number>();

  constructor(options: KafkaAppenderOptions) {
    this.o = options;
  }

  async append(topic: string, records: ProducerRecord[]): Promise<AppendResult[]> {
    this.o.clients.assertOpen();
    for (const r of records) {
      const size = r.value?.byteLength ?? 0;
      if (size > this.o.maxRecordBytes) {
        throw new TributaryError('OVERSIZE_RECORD', `record of ${size} bytes exceeds the ${this.o.maxRecordBytes}-byte limit on topic ${topic} (TRIBUTARY_MAX_RECORD_BYTES)`);
      }
    }
    if (records.length === 0) return [];
    const run = () => this.send(topic, records);
    const p = this.sendQueue.then(run, run);
    this.sendQueue = p.catch(() => undefined);
    return p;
  }

  /** Resolves once every append queued so far has been answered. */
  async drained(): Promise<void> {
    await this.sendQueue;
  }

  private async send(topic: string, records: ProducerRecord[]): Promise<AppendResult[]> {
    const partitions = await this.o.topics.partitionCount(topic);
    const now = Date.now();
    const placed = records.map((r) => {
      let partition: number;
      if (r.key === null) {
        const n = this.roundRobin.get(topic) ?? 0;
        this.roundRobin.set(topic, n + 1);
        partition = n % partitions;
      } else {
        partition = partitionForKey(r.key, partitions);
      }
      const message: Message = {
        key: r.key,
        value: r.value === null ? null : Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength),
        partition,
        headers: withTraceContext(r.headers),
        timestamp: String(r.timestamp ?? now),
      };
      return { partition, message, size: (r.value?.byteLength ?? 0) + (r.key?.length ?? 0) + 64 };
    });
    const results: AppendResult[] = [];
    let start = 0;
    while (start < placed.length) {
      // one request of at most MAX_SEND_BYTES (a bigger single record goes alone), keeping order
      let end = start;
      let bytes = 0;
      while (end < placed.length && (end === start || bytes + placed[end]!.size <= MAX_SEND_BYTES)) bytes += placed[end++]!.size;
      const chunk = placed.slice(start, end);
      const meta = await this.sendChunk(topic, chunk.map((c) => c.message));
      const base = new Map(meta.map((m) => [m.partition, Number(m.baseOffset)]));
      const seen = new Map<number, number>();
      for (const c of chunk) {
        const k = seen.get(c.partition) ?? 0;
        seen.set(c.partition, k + 1);
        results.push({ topic, partition: c.partition, offset: (base.get(c.partition) ?? 0) + k });
      }
      start = end;
    }
    return results;
  }

  private async sendChunk(topic: string, messages: Message[]): Promise<Array<{ partition: number; baseOffset?: string }>> {
    const producer = await this.o.clients.producerClient();
    try {
      return await producer.send({ topic, acks: -1, timeout: this.o.requestTimeoutMs, messages });
    } catch (e) {
      if (isProducerFenced(e)) await this.o.clients.resetProducer((e as Error).message);
      const te = toLogError(e, `append to ${topic}`);
      if (te.code === 'NOT_FOUND') this.o.topics.forget(topic);
      throw te;
    }
  }
}
