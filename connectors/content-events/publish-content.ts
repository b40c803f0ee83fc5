import { randomUUID } from 'node:crypto';
import { describeIssues } from '../../common/zod-issues.ts';
import { TributaryError } from '../../ports/errors.ts';
import type { AppendResult, EventLog, ProducerRecord } from '../../ports/event-log.ts';
import type { ValueCodec } from '../../ports/value-codec.ts';
import { contentEventSchema, type ContentEvent } from '../../schemas/content.ts';
import { documentIdFor } from '../../schemas/ids.ts';
import { Topics } from '../../schemas/topics.ts';
import { SpanNames } from '../../observability/metrics.ts';
import { SpanAttributes, SpanKind, traceHeaders, withSpan } from '../../observability/tracing.ts';

/**
 * Producers publishing content to Kafka (tributary.content.events) instead of POST /v1/content.
 * The archive consumer (consumers/archive) writes each event raw into the warehouse; CDC carries
 * it on from there. Key = document id, so one document's events stay in order on one partition.
 *
 *   const ids = await publishContent(log, [{ category: 'article', author: 'Ada', content: '…',
 *                                            source: 'blog', externalId: 'post-42' }]);
 *
 * Every item is validated first (zod, the same schema the archive consumer applies); one bad item
 * rejects the call with INVALID_INPUT naming the item and field, and nothing is sent. Resolves
 * once the log acknowledged every record. Each record carries the trace context of a publish span
 * (a child of the caller's active span): the archive write, the change event and the stages after
 * it continue that trace.
 */

export interface PublishContentOptions {
  /** Defaults to tributary.content.events. */
  topic?: string;
  /** Encodes values (Schema Registry wire format when a registry is configured); plain JSON without one. */
  codec?: ValueCodec;
}

export interface PublishedContent extends AppendResult {
  id: string;
}

/** The id a content item will be stored under: explicit, else derived from source + externalId, else new. */
export function contentId(item: Pick<ContentEvent, 'id' | 'source' | 'externalId'>): string {
  return item.id ?? (item.source && item.externalId ? documentIdFor(item.source, item.externalId) : randomUUID());
}

export async function publishContent(log: EventLog, items: ContentEvent[], opts: PublishContentOptions = {}): Promise<PublishedContent[]> {
  const topic = opts.topic ?? Topics.contentEvents;
  return withSpan(SpanNames.contentPublish, { [SpanAttributes.topic]: topic, [SpanAttributes.records]: items.length }, () => publish(log, topic, items, opts), { kind: SpanKind.PRODUCER });
}

async function publish(log: EventLog, topic: string, items: ContentEvent[], opts: PublishContentOptions): Promise<PublishedContent[]> {
  const headers = traceHeaders();
  const records: ProducerRecord[] = [];
  const ids: string[] = [];
  for (const [i, raw] of items.entries()) {
    const r = contentEventSchema.safeParse(raw);
    if (!r.success) {
      const fields = describeIssues(r.error.issues);
      throw new TributaryError('INVALID_INPUT', `content item ${i} is invalid: ${fields}`, { details: r.error.issues.map((x) => ({ item: i, path: x.path, message: x.message })) });
    }
    const id = contentId(r.data);
    ids.push(id);
    const value = opts.codec ? await opts.codec.encode(Topics.contentEvents, { ...r.data, id }) : Buffer.from(JSON.stringify({ ...r.data, id }));
    records.push({ key: id, value, headers });
  }
  if (records.length === 0) return [];
  const results = await log.append(topic, records);
  return results.map((res, i) => ({ ...res, id: ids[i]! }));
}

/** Asks the archive consumer to delete documents: a tombstone (null value) keyed by each id. */
export async function publishContentDeletion(log: EventLog, ids: string[], opts: PublishContentOptions = {}): Promise<PublishedContent[]> {
  if (ids.length === 0) return [];
  const topic = opts.topic ?? Topics.contentEvents;
  const results = await withSpan(SpanNames.contentPublish, { [SpanAttributes.topic]: topic, [SpanAttributes.records]: ids.length }, () => {
    const headers = traceHeaders();
    return log.append(topic, ids.map((id) => ({ key: id, value: null, headers })));
  }, { kind: SpanKind.PRODUCER });
  return results.map((res, i) => ({ ...res, id: ids[i]! }));
}
