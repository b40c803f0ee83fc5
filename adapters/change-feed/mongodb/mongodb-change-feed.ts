import {
  BSON, MongoClient, type ChangeStream, type ChangeStreamDocument, type Collection, type Document, type FindCursor, type ResumeToken, type Timestamp,
} from 'mongodb';
import type { ChangeFeed, ChangeFeedBatch, ChangeFeedEntry, ChangeFeedStats } from '../../../ports/change-feed.ts';
import { TributaryError } from '../../../ports/errors.ts';
import { buildEnvelope, buildKey, type ChangeOp } from '../../../schemas/change-event.ts';
import { isTransient, mongoError } from '../../document-store/mongodb/mongodb-errors.ts';
import { timeoutOptions } from '../../document-store/mongodb/mongodb-document-store.ts';
import { TRACE_CONTEXT_FIELD } from '../../../schemas/topics.ts';
import { traceCarrierOf } from '../../../schemas/change-event.ts';

/**
 * A MongoDB change stream as a change feed: the collection's inserts, updates, replaces and
 * deletes as the same Debezium-MongoDB envelopes the embedded store writes (one parser
 * downstream), key = document id, version = the event's cluster time (seconds · 2²¹ + ordinal),
 * strictly increasing per document.
 *
 * - Position: the change stream's resume token, saved by the relay only after the log acknowledged
 *   everything before it (commit). An idle stream still advances it (the post-batch resume token),
 *   so a quiet collection never leaves the relay on a token the oplog has already dropped.
 * - First start (no position): the stream's start time is taken from the server first, then the
 *   collection is read in `_id` order as snapshot events (op "r", version = that start time); then
 *   the stream starts at that time, so no write falls between the snapshot and the stream (one done
 *   during the snapshot may come twice: the later version wins downstream). The start time is the
 *   primary's last applied time: a write with an earlier timestamp still committing at that very
 *   moment (a window of microseconds) could be missed by both; reading the snapshot at that cluster
 *   time would close it but fails past the server's snapshot history window (300 s by default).
 * - History lost (ChangeStreamHistoryLost 286, an invalid or unknown resume token 260/280, a saved
 *   token the server cannot read, the collection dropped or renamed): never a silent restart from
 *   "now". The feed alerts (the `onAlert` callback, for the log and a metric, and a record on the
 *   ops topic in the batch) and takes a new snapshot. A snapshot re-sends every document that
 *   exists; a document deleted while the history was missing is not deleted downstream (the alert
 *   says so; a full rebuild of the index is the remedy).
 * - Lease and position live in a state collection (`tributary_relay`, one document per watched
 *   collection): one relay at a time across processes.
 * - Unreachable server, elections: STORE_UNAVAILABLE; the relay backs off and reads again, and the
 *   feed resumes from the last token it handed out (or, after a rewind, the committed one).
 * - Trace context: an insert or update event carries, in its `traceparent`/`tracestate` headers,
 *   the trace context its writer kept with the document (TRACE_CONTEXT_FIELD), so the trace
 *   crosses the CDC hop. Snapshot events start their own (the write was long before).
 */

export interface MongoChangeFeedOptions {
  url: string;
  database: string;
  collection: string;
  /** Topic the change events are for (the CDC topic). */
  cdcTopic: string;
  /** Topic for the feed's alerts (a re-snapshot). */
  opsTopic: string;
  /** Collection holding the lease and the committed position. Default "tributary_relay". */
  stateCollection?: string;
  timeoutMs?: number;
  /** Called on every alert (history lost → re-snapshot), for logs and metrics. */
  onAlert?: (alert: ChangeFeedAlert) => void;
}

export interface ChangeFeedAlert {
  event: 'cdc.resnapshot';
  reason: string;
  code: number | null;
  collection: string;
  atMs: number;
}

interface RelayState {
  _id: string;
  owner: string | null;
  leaseUntil: number;
  /** EJSON of { token } or { startAt: Timestamp } */
  position: string | null;
  committedAt?: number;
}

type Position = { token: ResumeToken } | { startAt: Timestamp };

const { EJSON } = BSON;

/** Server codes after which the stream cannot resume where it was. */
const HISTORY_LOST = new Set([286, 260, 280]);
const PAGE = 500;

export class MongoChangeFeed implements ChangeFeed {
  readonly kind = 'mongodb-change-stream';
  private readonly o: Required<Omit<MongoChangeFeedOptions, 'onAlert'>> & { onAlert: (a: ChangeFeedAlert) => void };
  private client: MongoClient | null = null;
  private coll: Collection<Document> | null = null;
  private state: Collection<RelayState> | null = null;
  private stream: ChangeStream | null = null;
  private snapshot: { cursor: FindCursor<Document>; startAt: Timestamp } | null = null;
  /** Alerts to hand out with the next batch (as ops-topic records). */
  private alerts: ChangeFeedEntry[] = [];
  /** Last position handed out by read(), for reopening the stream after an error without a rewind. */
  private readPosition: Position | null = null;
  /** The stream was just opened from a saved token and has not answered yet: an error now means the token is unusable. */
  private openedFromToken = false;
  /** Who holds the lease through this feed (the last successful acquireLease). */
  private leaseOwner: string | null = null;

  constructor(options: MongoChangeFeedOptions) {
    this.o = { stateCollection: 'tributary_relay', timeoutMs: 10_000, onAlert: () => {}, ...options };
  }

  private get stateId(): string {
    return `${this.o.database}.${this.o.collection}`;
  }

  async init(): Promise<void> {
    if (this.client) return;
    const client = new MongoClient(this.o.url, { ...timeoutOptions(this.o.url, this.o.timeoutMs), appName: 'tributary-cdc' });
    try {
      await client.connect();
      const hello = await client.db('admin').command({ hello: 1 }) as { setName?: string };
      if (!hello.setName) {
        throw new TributaryError('INVALID_CONFIG', 'mongodb change feed: the server is not a replica set member, and change streams need one: run MongoDB as a replica set (a single-node one will do) and add ?replicaSet=<name> to MONGODB_URL');
      }
    } catch (e) {
      await client.close().catch(() => undefined);
      throw mongoError(e, 'change feed init');
    }
    this.client = client;
    this.coll = client.db(this.o.database).collection(this.o.collection);
    this.state = client.db(this.o.database).collection<RelayState>(this.o.stateCollection);
  }

  private db(): { coll: Collection<Document>; state: Collection<RelayState>; client: MongoClient } {
    if (!this.client || !this.coll || !this.state) throw new TributaryError('STORE_UNAVAILABLE', 'mongodb change feed: call init() first', { retryable: false });
    return { coll: this.coll, state: this.state, client: this.client };
  }

  async acquireLease(owner: string, ttlMs: number): Promise<boolean> {
    const { state } = this.db();
    const now = Date.now();
    try {
      const r = await state.findOneAndUpdate(
        { _id: this.stateId, $or: [{ owner }, { owner: null }, { leaseUntil: { $lt: now } }] },
        { $set: { owner, leaseUntil: now + ttlMs }, $setOnInsert: { position: null } },
        { upsert: true, returnDocument: 'after' },
      );
      const held = r?.owner === owner;
      this.leaseOwner = held ? owner : null;
      return held;
    } catch (e) {
      if ((e as { code?: unknown }).code === 11000) return false; // the document exists and another owner's lease runs
      throw mongoError(e, 'lease');
    }
  }

  async releaseLease(owner: string): Promise<void> {
    const { state } = this.db();
    await state.updateOne({ _id: this.stateId, owner }, { $set: { leaseUntil: 0 } }).catch((e: unknown) => { throw mongoError(e, 'lease release'); });
  }

  async commit(owner: string, position: string): Promise<boolean> {
    const { state } = this.db();
    try {
      const r = await state.updateOne({ _id: this.stateId, owner }, { $set: { position, committedAt: Date.now() } }, { writeConcern: { w: 'majority' } });
      return r.matchedCount === 1;
    } catch (e) {
      throw mongoError(e, 'commit');
    }
  }

  async rewind(): Promise<void> {
    await this.closeCursors();
    this.readPosition = null;
  }

  async stats(): Promise<ChangeFeedStats> {
    return { pending: null, oldestPendingMs: null };
  }

  async read(limit: number, waitMs: number, signal: AbortSignal): Promise<ChangeFeedBatch> {
    try {
      if (!this.stream && !this.snapshot) await this.open();
      if (this.snapshot) return await this.readSnapshot(limit);
      return await this.readStream(limit, waitMs, signal);
    } catch (e) {
      const code = (e as { code?: unknown }).code;
      const unreadableToken = this.openedFromToken && typeof code === 'number' && !isTransient(e);
      if (typeof code === 'number' && (HISTORY_LOST.has(code) || unreadableToken)) {
        await this.historyLost(unreadableToken && !HISTORY_LOST.has(code) ? `the saved resume token cannot be used: ${(e as Error).message}` : `${(e as Error).message}`, code);
        return { entries: this.takeAlerts(), position: null };
      }
      // an outage: reopen from the last position handed out on the next read
      await this.closeCursors();
      throw mongoError(e, 'change stream read');
    }
  }

  /** Opens the stream at the position handed out last, else the committed one; with none, starts a snapshot. */
  private async open(): Promise<void> {
    const { coll, state } = this.db();
    let position = this.readPosition;
    if (!position) {
      const s = await state.findOne({ _id: this.stateId });
      position = s?.position ? (EJSON.parse(s.position) as Position) : null;
    }
    if (!position) {
      // the time to start the stream at, taken BEFORE the snapshot reads anything
      const ping = await coll.db.command({ ping: 1 }) as { operationTime?: Timestamp };
      const startAt = ping.operationTime;
      if (!startAt) throw new TributaryError('STORE_UNAVAILABLE', 'mongodb change feed: the server did not report an operation time (not a replica set?)');
      this.snapshot = { cursor: coll.find({}).sort({ _id: 1 }).batchSize(PAGE), startAt };
      return;
    }
    const options = {
      fullDocument: 'updateLookup' as const,
      fullDocumentBeforeChange: 'whenAvailable' as const,
      // an idle getMore returns after this long (with a post-batch resume token), so reads stay short
      maxAwaitTimeMS: 500,
      ...('token' in position ? { resumeAfter: position.token } : { startAtOperationTime: position.startAt }),
    };
    this.stream = coll.watch([], options);
    this.openedFromToken = 'token' in position;
  }

  private async readSnapshot(limit: number): Promise<ChangeFeedBatch> {
    const snap = this.snapshot!;
    const entries: ChangeFeedEntry[] = this.takeAlerts();
    while (entries.length < limit && await snap.cursor.hasNext()) {
      const doc = (await snap.cursor.next())!;
      entries.push(this.entry('r', docIdOf(doc['_id']), toPlain(doc), null, snap.startAt, true));
    }
    if (await snap.cursor.hasNext()) return { entries, position: null }; // the snapshot is committed only once whole
    await snap.cursor.close();
    this.snapshot = null;
    const position: Position = { startAt: snap.startAt };
    this.readPosition = position;
    return { entries, position: EJSON.stringify(position) };
  }

  private async readStream(limit: number, waitMs: number, signal: AbortSignal): Promise<ChangeFeedBatch> {
    const stream = this.stream!;
    const entries: ChangeFeedEntry[] = this.takeAlerts();
    const deadline = Date.now() + waitMs;
    while (entries.length < limit && !signal.aborted) {
      const change = await stream.tryNext();
      this.openedFromToken = false;
      if (!change) {
        if (entries.length > 0 || Date.now() >= deadline) break;
        continue;
      }
      const e = this.toEntries(change as ChangeStreamDocument<Document>);
      if (e === 'lost') {
        await this.historyLost(`the change stream was invalidated by a "${change.operationType}" of ${this.o.database}.${this.o.collection}`, null);
        return { entries: [...entries, ...this.takeAlerts()], position: null };
      }
      entries.push(...e);
      // what the last getMore brought is used up: answer now rather than block in another getMore
      if (stream.bufferedCount() === 0) break;
    }
    // after the last event, or the post-batch resume token when idle
    const token = stream.resumeToken;
    if (!token) return { entries, position: null };
    const position: Position = { token };
    this.readPosition = position;
    return { entries, position: EJSON.stringify(position) };
  }

  private toEntries(change: ChangeStreamDocument<Document>): ChangeFeedEntry[] | 'lost' {
    switch (change.operationType) {
      case 'insert':
      case 'update':
      case 'replace': {
        const id = docIdOf(change.documentKey._id);
        // updateLookup finds nothing when the document was deleted since: its delete event follows
        if (!change.fullDocument) return [];
        const before = 'fullDocumentBeforeChange' in change && change.fullDocumentBeforeChange ? toPlain(change.fullDocumentBeforeChange) : null;
        return [this.entry(change.operationType === 'insert' ? 'c' : 'u', id, toPlain(change.fullDocument), before, change.clusterTime!, false)];
      }
      case 'delete': {
        const id = docIdOf(change.documentKey._id);
        const before = change.fullDocumentBeforeChange ? toPlain(change.fullDocumentBeforeChange) : null;
        // Debezium emits the delete event, then a tombstone (tombstones.on.delete=true) for compaction
        return [this.entry('d', id, null, before, change.clusterTime!, false), { topic: this.o.cdcTopic, record: { key: buildKey(id), value: null } }];
      }
      case 'drop':
      case 'rename':
      case 'dropDatabase':
      case 'invalidate':
        return 'lost';
      default:
        return [];
    }
  }

  private entry(op: ChangeOp, id: string, after: Record<string, unknown> | null, before: Record<string, unknown> | null, at: Timestamp, snapshot: boolean): ChangeFeedEntry {
    const tsMs = at.t * 1000;
    const env = buildEnvelope({ op, db: this.o.database, collection: this.o.collection, tsMs, ord: at.i, after, before, snapshot, connectorName: 'tributary-cdc' });
    const trace = snapshot || !after ? null : traceCarrierOf(after[TRACE_CONTEXT_FIELD]);
    return { topic: this.o.cdcTopic, record: { key: buildKey(id), value: Buffer.from(JSON.stringify(env)), timestamp: tsMs, ...(trace ? { headers: trace } : {}) } };
  }

  /** History lost: a loud alert, the committed position forgotten, and a new snapshot on the next read. */
  private async historyLost(reason: string, code: number | null): Promise<void> {
    await this.closeCursors();
    this.readPosition = null;
    const { state } = this.db();
    // only the lease holder forgets the saved position
    if (this.leaseOwner) await state.updateOne({ _id: this.stateId, owner: this.leaseOwner }, { $set: { position: null } });
    const alert: ChangeFeedAlert = { event: 'cdc.resnapshot', reason: `${reason}; taking a new snapshot (documents deleted while the history was missing stay downstream until the index is rebuilt)`, code, collection: this.stateId, atMs: Date.now() };
    this.o.onAlert(alert);
    this.alerts.push({ topic: this.o.opsTopic, record: { key: 'cdc.resnapshot', value: Buffer.from(JSON.stringify(alert)), timestamp: alert.atMs } });
  }

  private takeAlerts(): ChangeFeedEntry[] {
    return this.alerts.splice(0);
  }

  private async closeCursors(): Promise<void> {
    const stream = this.stream;
    const snap = this.snapshot;
    this.stream = null;
    this.snapshot = null;
    await stream?.close().catch(() => undefined);
    await snap?.cursor.close().catch(() => undefined);
  }

  async close(): Promise<void> {
    await this.closeCursors();
    const client = this.client;
    this.client = null;
    this.coll = null;
    this.state = null;
    await client?.close();
  }
}

/** A document id as Tributary's string id: strings as they are, ObjectIds as hex, anything else as canonical extended JSON. */
function docIdOf(id: unknown): string {
  if (typeof id === 'string') return id;
  if (id && typeof (id as { toHexString?: unknown }).toHexString === 'function') return (id as { toHexString(): string }).toHexString();
  return EJSON.stringify(id as Document);
}

/** A BSON document as the plain JSON the envelope carries (relaxed extended JSON for BSON types). */
function toPlain(doc: Document): Record<string, unknown> {
  const plain = EJSON.serialize(doc, { relaxed: true }) as Record<string, unknown>;
  return { ...plain, _id: docIdOf(doc['_id']) };
}
