import { randomUUID } from 'node:crypto';
import { describeIssues } from '../../common/zod-issues.ts';
import { TributaryError } from '../../ports/errors.ts';
import type { AppendResult, EventLog, ProducerRecord } from '../../ports/event-log.ts';
import type { ValueCodec } from '../../ports/value-codec.ts';
import { contentEventSchema, type ContentEvent } from '../../schemas/content.ts';
import { documentIdFor } from '../../schemas/ids.ts';
import { Topics, TRACEPARENT_HEADER } from '../../schemas/topics.ts';

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
 * once the log acknowledged every record.
 */

export interface PublishContentOptions {
  /** Defaults to tributary.content.events. */
  topic?: string;
  /** W3C trace context to carry (the log adds a new one when absent). */
  traceparent?: string;
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
    records.push({ key: id, value, headers: opts.traceparent ? { [TRACEPARENT_HEADER]: opts.traceparent } : {} });
  }
  if (records.length === 0) return [];
  const results = await log.append(opts.topic ?? Topics.contentEvents, records);
  return results.map((res, i) => ({ ...res, id: ids[i]! }));
}

/** Asks the archive consumer to delete documents: a tombstone (null value) keyed by each id. */
export async function publishContentDeletion(log: EventLog, ids: string[], opts: PublishContentOptions = {}): Promise<PublishedContent[]> {
  if (ids.length === 0) return [];
  const results = await log.append(opts.topic ?? Topics.contentEvents, ids.map((id) => ({ key: id, value: null })));
  return results.map((res, i) => ({ ...res, id: ids[i]! }));
}
