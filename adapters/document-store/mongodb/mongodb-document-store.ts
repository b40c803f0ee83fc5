import { randomUUID } from 'node:crypto';
import { MongoClient, type AnyBulkWriteOperation, type ClientSession, type Collection } from 'mongodb';
import type { DocumentStore, NewDocument, PutResult } from '../../../ports/document-store.ts';
import { TributaryError } from '../../../ports/errors.ts';
import type { RawDocument } from '../../../schemas/content.ts';
import { documentIdFor } from '../../../schemas/ids.ts';
import { mongoError } from './mongodb-errors.ts';
import { TRACE_CONTEXT_FIELD } from '../../../schemas/topics.ts';
import { SpanNames } from '../../../observability/metrics.ts';
import { documentTraceCarrier, SpanAttributes, withSpan } from '../../../observability/tracing.ts';

/**
 * The distributed warehouse: raw documents in a MongoDB collection, as received, never modified by
 * the pipeline. The store writes documents only; their change events come from the collection's
 * change stream (the built-in relay, connectors/relay) or from Debezium — never from this adapter.
 *
 * - `_id` is the document id: explicit, else UUIDv5(source, externalId) (idempotent publishing),
 *   else a random UUID. One document per (source, externalId) even when a producer gives an
 *   explicit id: put() refuses a pair another id has, and a unique partial index guards it on the
 *   server (where the server has partial indexes: FerretDB has not, and gets a plain index).
 * - Same content again → "unchanged", no write (so no change event either).
 * - A batch is one multi-document transaction (`transactions: "required"`, a replica set): all
 *   items or none. `transactions: "off"` writes a batch as one ordered bulk write — for servers
 *   without transactions (FerretDB in the tests): a failure part-way leaves the items before it.
 * - Unreachable server, lost primary, timeouts: STORE_UNAVAILABLE (retryable); a duplicate
 *   (source, externalId) under another id: INVALID_INPUT naming both.
 * - A write is a span (tributary.store.put / delete). A written document keeps the writer's W3C
 *   trace context in a reserved field (`_trace`, TRACE_CONTEXT_FIELD): the change stream relay puts
 *   it in the change event's headers, and Debezium copies it with the document, so the trace crosses
 *   the CDC hop. Reads leave it out. (A delete leaves no document to keep it: its event starts a trace.)
 */

export interface MongoDocumentStoreOptions {
  url: string;
  database: string;
  collection: string;
  /** "required": batches are transactions and the server must be a replica set; "off": ordered bulk writes. */
  transactions: 'required' | 'off';
  /** Server selection and socket timeouts, ms. Default 10,000. */
  timeoutMs?: number;
}

/** Fields a producer gives, in the order they are stored; compared to tell "unchanged" from "updated". */
const CONTENT_FIELDS = ['category', 'author', 'content', 'title', 'url', 'source', 'externalId', 'metadata'] as const;

type StoredDocument = RawDocument & { _id: string; [TRACE_CONTEXT_FIELD]?: Record<string, string> };

/** The document without the store's own reserved fields (its trace context). */
function withoutReserved(doc: StoredDocument | null): RawDocument | null {
  if (!doc) return null;
  const { [TRACE_CONTEXT_FIELD]: _trace, ...rest } = doc;
  return rest;
}

export class MongoDocumentStore implements DocumentStore {
  readonly kind = 'mongodb';
  /** Change events come from the change stream (or Debezium), not from the write itself. */
  readonly capabilities = { transactionalChangeFeed: false };
  private readonly o: Required<MongoDocumentStoreOptions>;
  private client: MongoClient | null = null;
  private coll: Collection<StoredDocument> | null = null;
  private closed = false;

  constructor(options: MongoDocumentStoreOptions) {
    this.o = { timeoutMs: 10_000, ...options };
  }

  /** Connects, checks the server can do what the options ask, and creates the indexes (once, at start-up). */
  async init(): Promise<void> {
    if (this.coll) return;
    if (this.closed) throw new TributaryError('STORE_UNAVAILABLE', 'mongodb store: init() after close()', { retryable: false });
    const client = new MongoClient(this.o.url, { ...timeoutOptions(this.o.url, this.o.timeoutMs), appName: 'tributary' });
    try {
      await client.connect();
      const hello = await client.db('admin').command({ hello: 1 }) as { setName?: string; msg?: string };
      if (this.o.transactions === 'required' && !hello.setName) {
        throw new TributaryError('INVALID_CONFIG', `mongodb store: ${redact(this.o.url)} is not a replica set member, so a batch cannot be one transaction and there is no change stream: `
          + 'run MongoDB as a replica set (a single-node one will do: `rs.initiate()`, then ?replicaSet=<name> in MONGODB_URL)');
      }
      const coll = client.db(this.o.database).collection<StoredDocument>(this.o.collection);
      try {
        await coll.createIndex({ source: 1, externalId: 1 }, {
          name: 'source_externalId', unique: true,
          partialFilterExpression: { source: { $type: 'string' }, externalId: { $type: 'string' } },
        });
      } catch (e) {
        // a wire-compatible server without partial indexes (FerretDB): a plain index for the
        // lookup put() does before writing, which then is the only guard
        if ((e as { code?: unknown }).code !== 238) throw e;
        await coll.createIndex({ source: 1, externalId: 1 }, { name: 'source_externalId_lookup' });
      }
      this.client = client;
      this.coll = coll;
    } catch (e) {
      await client.close().catch(() => undefined);
      throw mongoError(e, `init (${redact(this.o.url)}, ${this.o.database}.${this.o.collection})`);
    }
  }

  private collection(): Collection<StoredDocument> {
    if (this.coll) return this.coll;
    throw new TributaryError('STORE_UNAVAILABLE', this.closed ? 'mongodb store is closed' : 'mongodb store: call init() first', { retryable: false });
  }

  async put(docs: NewDocument[]): Promise<PutResult[]> {
    return withSpan(SpanNames.storePut, { [SpanAttributes.store]: this.kind, [SpanAttributes.documents]: docs.length }, () => this.write(docs));
  }

  private async write(docs: NewDocument[]): Promise<PutResult[]> {
    const coll = this.collection();
    const now = new Date().toISOString();
    // kept with each written document, for its change event (none outside a trace)
    const trace = documentTraceCarrier();
    const items = docs.map((d) => ({
      id: d.id ?? (d.source && d.externalId ? documentIdFor(d.source, d.externalId) : randomUUID()),
      fields: {
        category: d.category, author: d.author, content: d.content,
        title: d.title ?? null, url: d.url ?? null, source: d.source ?? null, externalId: d.externalId ?? null,
        metadata: d.metadata ?? null,
      },
    }));
    const write = async (session: ClientSession | undefined): Promise<PutResult[]> => {
      const ids = [...new Set(items.map((i) => i.id))];
      const current = new Map<string, StoredDocument>();
      for (const doc of await coll.find({ _id: { $in: ids } }, session ? { session } : {}).toArray()) current.set(doc._id, doc);
      // one document per (source, externalId): refuse a pair another id already has
      const pairs = items.filter((i) => i.fields.source !== null && i.fields.externalId !== null);
      if (pairs.length > 0) {
        const taken = await coll.find({ $or: pairs.map((i) => ({ source: i.fields.source, externalId: i.fields.externalId })) }, { projection: { _id: 1, source: 1, externalId: 1 }, ...(session ? { session } : {}) }).toArray();
        for (const i of pairs) {
          const other = taken.find((t) => t.source === i.fields.source && t.externalId === i.fields.externalId && t._id !== i.id)
            ?? items.find((o) => o.id !== i.id && o.fields.source === i.fields.source && o.fields.externalId === i.fields.externalId);
          if (other) {
            const otherId = '_id' in other ? other._id : other.id;
            throw new TributaryError('INVALID_INPUT', `document ${i.id}: document ${otherId} already has source "${i.fields.source}" and externalId "${i.fields.externalId}" — one document per source + externalId (publish without an id, or with that document's id)`);
          }
        }
      }
      const results: PutResult[] = [];
      // one write per document, its final state: every event of a transaction carries the commit's
      // cluster time, so two writes of one document in one batch would be two events of one version
      const finals = new Map<string, StoredDocument>();
      for (const { id, fields } of items) {
        const existing = current.get(id);
        if (existing && sameContent(existing, fields)) {
          results.push({ id, outcome: 'unchanged' });
          continue;
        }
        const doc: StoredDocument = { _id: id, ...fields, createdAt: existing?.createdAt ?? now, updatedAt: now, ...(trace ? { [TRACE_CONTEXT_FIELD]: trace } : {}) };
        finals.set(id, doc);
        current.set(id, doc);
        results.push({ id, outcome: existing ? 'updated' : 'created' });
      }
      const ops: AnyBulkWriteOperation<StoredDocument>[] = [...finals].map(([id, doc]) => ({ replaceOne: { filter: { _id: id }, replacement: doc, upsert: true } }));
      if (ops.length > 0) await coll.bulkWrite(ops, { ordered: true, ...(session ? { session } : {}) });
      return results;
    };
    try {
      if (this.o.transactions === 'off') return await write(undefined);
      const session = this.client!.startSession();
      try {
        return await session.withTransaction(() => write(session), { readConcern: { level: 'snapshot' }, writeConcern: { w: 'majority' } });
      } finally {
        await session.endSession();
      }
    } catch (e) {
      throw mongoError(e, `put of ${docs.length} document${docs.length === 1 ? '' : 's'}`);
    }
  }

  async delete(id: string): Promise<boolean> {
    const coll = this.collection();
    return withSpan(SpanNames.storeDelete, { [SpanAttributes.store]: this.kind, [SpanAttributes.documentId]: id }, async () => {
      try {
        return (await coll.deleteOne({ _id: id }, { writeConcern: { w: 'majority' } })).deletedCount === 1;
      } catch (e) {
        throw mongoError(e, `delete of ${id}`);
      }
    });
  }

  async get(id: string): Promise<RawDocument | null> {
    const coll = this.collection();
    try {
      return withoutReserved(await coll.findOne({ _id: id }));
    } catch (e) {
      throw mongoError(e, `get of ${id}`);
    }
  }

  async count(): Promise<number> {
    const coll = this.collection();
    try {
      return await coll.countDocuments({});
    } catch (e) {
      throw mongoError(e, 'count');
    }
  }

  /** Snapshot events of a MongoDB warehouse are the change feed's (the relay's initial snapshot, op "r"), not the store's. */
  async snapshot(): Promise<number> {
    throw new TributaryError('UNSUPPORTED_OPERATION', 'mongodb store: snapshot events come from the change feed (the relay snapshots the collection on first start, or after its history was lost); the store itself emits no events');
  }

  async ping(): Promise<void> {
    const coll = this.collection();
    try {
      await coll.db.command({ ping: 1 });
    } catch (e) {
      throw mongoError(e, `ping of ${redact(this.o.url)}`);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const client = this.client;
    this.client = null;
    this.coll = null;
    await client?.close();
  }
}

function sameContent(existing: StoredDocument, fields: Record<(typeof CONTENT_FIELDS)[number], unknown>): boolean {
  return CONTENT_FIELDS.every((k) => JSON.stringify(existing[k] ?? null) === JSON.stringify(fields[k] ?? null));
}

/** Server-selection and socket timeouts, unless the URL sets them (an option in MONGODB_URL is never overridden). */
export function timeoutOptions(url: string, timeoutMs: number): { serverSelectionTimeoutMS?: number; socketTimeoutMS?: number } {
  return {
    ...(/[?&]serverSelectionTimeoutMS=/i.test(url) ? {} : { serverSelectionTimeoutMS: timeoutMs }),
    ...(/[?&]socketTimeoutMS=/i.test(url) ? {} : { socketTimeoutMS: timeoutMs * 3 }),
  };
}

/** The URL without its password, for messages. */
export function redact(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@/]*@/, '//$1:***@');
}

/** Builds the MongoDB store. No I/O until `init()`. */
export function createMongoDocumentStore(options: MongoDocumentStoreOptions): MongoDocumentStore {
  const problems: string[] = [];
  if (!/^mongodb(\+srv)?:\/\//.test(options?.url ?? '')) problems.push(`url must start with mongodb:// or mongodb+srv://, got ${JSON.stringify(redact(String(options?.url)))}`);
  for (const k of ['database', 'collection'] as const) if (typeof options?.[k] !== 'string' || !/^[A-Za-z0-9_.-]{1,100}$/.test(options[k])) problems.push(`${k} must be 1–100 letters, digits, "_", "-" or "."`);
  if (options?.transactions !== 'required' && options?.transactions !== 'off') problems.push('transactions must be "required" or "off"');
  if (problems.length > 0) throw new TributaryError('INVALID_CONFIG', `mongodb store: ${problems.join('; ')}`);
  return new MongoDocumentStore(options);
}
