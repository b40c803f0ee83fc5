import { findTributaryError } from '../ports/errors.ts';
import type { EventLog, LogRecord, PartitionOffsets } from '../ports/event-log.ts';

/** The partitions of a topic with their offsets; none when the topic does not exist (yet). */
export async function topicPartitions(log: Pick<EventLog, 'offsets'>, topic: string): Promise<PartitionOffsets[]> {
  try {
    return await log.offsets(topic);
  } catch (e) {
    if (findTributaryError(e)?.code === 'NOT_FOUND') return [];
    throw e;
  }
}

/**
 * One partition of a topic read from `from` up to `to` (exclusive), a page at a time: the one loop
 * for reading a range of the log outside a consumer group. A page holds only records below `to`; the
 * next position after a page is its last record's offset + 1 (compaction leaves gaps).
 */
export async function* logPages(log: Pick<EventLog, 'read'>, topic: string, partition: number, from: number, to: number, pageSize: number): AsyncGenerator<LogRecord[]> {
  for (let at = from; at < to;) {
    const page = await log.read(topic, partition, at, Math.min(pageSize, to - at));
    const inRange = page.filter((r) => r.offset < to);
    if (inRange.length === 0) return;
    yield inRange;
    at = inRange[inRange.length - 1]!.offset + 1;
  }
}
