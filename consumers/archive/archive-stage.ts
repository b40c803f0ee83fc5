import type { DocumentStore, NewDocument } from '../../ports/document-store.ts';
import { TributaryError } from '../../ports/errors.ts';
import type { LogRecord } from '../../ports/event-log.ts';
import type { ValueCodec } from '../../ports/value-codec.ts';
import { PROBE_CATEGORY, type ContentEvent } from '../../schemas/content.ts';
import { Topics } from '../../schemas/topics.ts';
import { documentIdFor } from '../../schemas/ids.ts';
import { recordFailure, type RecordFailure, type Stage } from '../runtime/stage-consumer.ts';

/**
 * archive: content events published to Kafka (tributary.content.events, see
 * connectors/content-events/publish-content.ts) → the document warehouse, raw and as received.
 * The store's change feed then carries each write on like any other (CDC → clean → embed).
 *
 * Idempotent: the document id comes from the event (explicit id, else source + externalId, else
 * the record key), and the store turns a re-delivered event with the same content into a no-op
 * ("unchanged", no change event). A tombstone (null value) deletes the document named by the key.
 * Events are applied in log order; consecutive upserts go to the store in one transaction.
 * A bad event (not UTF-8 JSON, schema violation, key/id mismatch) is a per-record failure: DLQ.
 * A store or registry failure is thrown; the runtime acts on its scope (consumers/runtime/stage-consumer.ts):
 * the store or the registry down keeps the batch until it is back, a document the store refuses
 * fails alone.
 */

type Op = { kind: 'put'; doc: NewDocument } | { kind: 'delete'; id: string };

export class ArchiveStage implements Stage {
  readonly name = 'archive';
  private readonly store: DocumentStore;
  private readonly codec: ValueCodec;

  /** `codec`: how content events are read (Schema Registry wire format or plain JSON, both validated). */
  constructor(opts: { store: DocumentStore; codec: ValueCodec }) {
    this.store = opts.store;
    this.codec = opts.codec;
  }

  async process(records: LogRecord[]): Promise<RecordFailure[]> {
    const failures: RecordFailure[] = [];
    const ops: Op[] = [];
    for (const rec of records) {
      try {
        ops.push(toOperation(rec, rec.value === null ? null : await this.codec.decode(Topics.contentEvents, rec.value)));
      } catch (err) {
        failures.push(recordFailure(rec, err));
      }
    }
    let puts: NewDocument[] = [];
    const flush = async () => {
      if (puts.length === 0) return;
      const batch = puts;
      puts = [];
      await this.store.put(batch);
    };
    for (const op of ops) {
      if (op.kind === 'put') { puts.push(op.doc); continue; }
      await flush();
      await this.store.delete(op.id); // false (already gone) is fine: deletes are idempotent
    }
    await flush();
    return failures;
  }
}

/**
 * A content event → the store operation it asks for. `event` is the value as the codec decoded and
 * validated it (null for a tombstone). Throws MALFORMED_EVENT / SCHEMA_VIOLATION.
 */
export function toOperation(rec: LogRecord, event: ContentEvent | null): Op {
  if (event === null) {
    if (!rec.key) throw new TributaryError('MALFORMED_EVENT', 'content tombstone without a key: cannot tell which document to delete');
    return { kind: 'delete', id: rec.key };
  }
  const e = event;
  const id = e.id ?? (e.source && e.externalId ? documentIdFor(e.source, e.externalId) : rec.key);
  if (!id) throw new TributaryError('SCHEMA_VIOLATION', 'content event has no id: set `id`, or `source` and `externalId`, or a record key');
  if (rec.key !== null && rec.key !== id) {
    throw new TributaryError('SCHEMA_VIOLATION', `content event key "${rec.key}" does not match its document id "${id}" (the key must be the document id, so one document's events stay in order)`);
  }
  if (e.category === PROBE_CATEGORY) {
    throw new TributaryError('SCHEMA_VIOLATION', `content event ${id}: category "${PROBE_CATEGORY}" is reserved for the freshness probe's document; publish it under another category`);
  }
  const { id: _id, ...item } = e;
  return { kind: 'put', doc: { id, ...item } };
}
