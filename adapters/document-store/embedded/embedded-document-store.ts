import { createHash, randomUUID } from 'node:crypto';
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { DocumentStore, NewDocument, PutResult } from '../../../ports/document-store.ts';
import type { ProducerRecord } from '../../../ports/event-log.ts';
import { buildEnvelope, buildKey, type ChangeOp } from '../../../schemas/change-event.ts';
import type { RawDocument } from '../../../schemas/content.ts';
import { documentIdFor } from '../../../schemas/ids.ts';
import { TributaryError } from '../../../ports/errors.ts';
import { transaction, writeTransaction } from '../../sqlite/open-database.ts';
import { SpanNames } from '../../../observability/metrics.ts';
import { SpanAttributes, traceHeaders, withSpan } from '../../../observability/tracing.ts';

/**
 * The embedded warehouse: raw documents in SQLite. Every write appends a Debezium-style change event
 * (op c/u/d, snapshot r, tombstone after delete) to the CDC topic in the SAME transaction, so a
 * document is never stored without its event, nor an event emitted for a write that rolled back.
 * A write is a span (tributary.store.put / delete) whose W3C trace context the change events carry
 * in their headers: the CDC hop is inside the transaction, and the trace crosses it with the event.
 */

/**
 * Where the store writes its change events, synchronously and inside its own SQLite transaction:
 * the embedded event log (same database), or the change outbox (outbox.ts) that a relay drains
 * to Kafka. Either way a write and its change event commit or roll back together.
 */
export interface TransactionalChangeSink {
  appendSync(topic: string, records: ProducerRecord[]): unknown;
}

export interface EmbeddedDocumentStoreOptions {
  db: DatabaseSync;
  log: TransactionalChangeSink;
  cdcTopic: string;
  database: string;
  collection: string;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS documents (
  id TEXT PRIMARY KEY,
  doc TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS store_clock (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  last_sec INTEGER NOT NULL,
  last_ord INTEGER NOT NULL
);
INSERT OR IGNORE INTO store_clock (id, last_sec, last_ord) VALUES (1, 0, 0);
`;

/**
 * One document per (source, externalId): two columns beside the JSON and a unique index. A store
 * created before they existed gets them, filled from its documents, at open.
 */
function migrateSourceKey(db: DatabaseSync): void {
  const columns = (db.prepare('PRAGMA table_info(documents)').all() as Array<{ name: string }>).map((c) => c.name);
  if (!columns.includes('source')) {
    transaction(db, () => {
      db.exec('ALTER TABLE documents ADD COLUMN source TEXT');
      db.exec('ALTER TABLE documents ADD COLUMN external_id TEXT');
      db.exec("UPDATE documents SET source = json_extract(doc, '$.source'), external_id = json_extract(doc, '$.externalId')");
    });
  }
  db.exec('CREATE UNIQUE INDEX IF NOT EXISTS documents_source_external_id ON documents (source, external_id) WHERE source IS NOT NULL AND external_id IS NOT NULL');
}

export class EmbeddedDocumentStore implements DocumentStore {
  readonly kind = 'embedded';
  readonly capabilities = { transactionalChangeFeed: true };
  private readonly db: DatabaseSync;
  private readonly log: TransactionalChangeSink;
  private readonly opts: EmbeddedDocumentStoreOptions;
  private readonly getStmt: StatementSync;
  private readonly upsertStmt: StatementSync;
  private readonly deleteStmt: StatementSync;
  private readonly clockGet: StatementSync;
  private readonly clockSet: StatementSync;

  constructor(opts: EmbeddedDocumentStoreOptions) {
    this.opts = opts;
    this.db = opts.db;
    this.log = opts.log;
    this.db.exec(SCHEMA);
    migrateSourceKey(this.db);
    this.getStmt = this.db.prepare('SELECT doc, fingerprint, created_at FROM documents WHERE id = ?');
    this.upsertStmt = this.db.prepare(`INSERT INTO documents (id, doc, fingerprint, created_at, updated_at, source, external_id) VALUES (?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (id) DO UPDATE SET doc = excluded.doc, fingerprint = excluded.fingerprint, updated_at = excluded.updated_at,
        source = excluded.source, external_id = excluded.external_id`);
    this.deleteStmt = this.db.prepare('DELETE FROM documents WHERE id = ?');
    this.clockGet = this.db.prepare('SELECT last_sec, last_ord FROM store_clock WHERE id = 1');
    this.clockSet = this.db.prepare('UPDATE store_clock SET last_sec = ?, last_ord = ? WHERE id = 1');
  }

  /** Next (ts_ms, ord) position: strictly increasing across writes and restarts, like a cluster time. */
  private tick(): { tsMs: number; ord: number } {
    const row = this.clockGet.get() as { last_sec: number; last_ord: number };
    const nowMs = Date.now();
    const nowSec = Math.floor(nowMs / 1000);
    let sec: number; let ord: number;
    if (nowSec > row.last_sec) { sec = nowSec; ord = 1; } else { sec = row.last_sec; ord = row.last_ord + 1; }
    if (ord >= 2 ** 21) { sec += 1; ord = 1; }
    this.clockSet.run(sec, ord);
    return { tsMs: sec === nowSec ? nowMs : sec * 1000, ord };
  }

  private event(op: ChangeOp, id: string, after: RawDocument | null, before: RawDocument | null, snapshot = false, headers?: Record<string, string>): ProducerRecord {
    const { tsMs, ord } = this.tick();
    const env = buildEnvelope({ op, db: this.opts.database, collection: this.opts.collection, tsMs, ord, after, before, snapshot });
    return { key: buildKey(id), value: Buffer.from(JSON.stringify(env)), timestamp: tsMs, ...(headers ? { headers } : {}) };
  }

  async put(docs: NewDocument[]): Promise<PutResult[]> {
    return withSpan(SpanNames.storePut, { [SpanAttributes.store]: this.kind, [SpanAttributes.documents]: docs.length }, () => this.write(docs));
  }

  private write(docs: NewDocument[]): Promise<PutResult[]> {
    // the write's span context, carried by every change event of it (none outside a trace)
    const trace = traceHeaders();
    const headers = trace['traceparent'] ? trace : undefined;
    // never blocks this thread while a pipeline thread holds the write lock (it waits on timers)
    return writeTransaction(this.db, () => {
      const results: PutResult[] = [];
      const events: ProducerRecord[] = [];
      const now = new Date().toISOString();
      for (const d of docs) {
        const id = d.id ?? (d.source && d.externalId ? documentIdFor(d.source, d.externalId) : randomUUID());
        const fields = {
          category: d.category, author: d.author, content: d.content,
          title: d.title ?? null, url: d.url ?? null, source: d.source ?? null, externalId: d.externalId ?? null,
          metadata: d.metadata ?? null,
        };
        const fingerprint = createHash('sha256').update(JSON.stringify(fields)).digest('hex');
        const existing = this.getStmt.get(id) as { doc: string; fingerprint: string; created_at: string } | undefined;
        if (existing && existing.fingerprint === fingerprint) {
          results.push({ id, outcome: 'unchanged' });
          continue;
        }
        const createdAt = existing?.created_at ?? now;
        const doc: RawDocument = { _id: id, ...fields, createdAt, updatedAt: now };
        try {
          this.upsertStmt.run(id, JSON.stringify(doc), fingerprint, createdAt, now, fields.source, fields.externalId);
        } catch (e) {
          if (/UNIQUE constraint failed: documents\.source/.test((e as Error).message)) {
            throw new TributaryError('INVALID_INPUT', `document ${id}: another document already has source "${fields.source}" and externalId "${fields.externalId}" — one document per source + externalId (publish without an id, or with that document's id)`, { cause: e });
          }
          throw e;
        }
        const before = existing ? (JSON.parse(existing.doc) as RawDocument) : null;
        events.push(this.event(existing ? 'u' : 'c', id, doc, before, false, headers));
        results.push({ id, outcome: existing ? 'updated' : 'created' });
      }
      if (events.length > 0) this.log.appendSync(this.opts.cdcTopic, events);
      return results;
    });
  }

  async delete(id: string): Promise<boolean> {
    return withSpan(SpanNames.storeDelete, { [SpanAttributes.store]: this.kind, [SpanAttributes.documentId]: id }, () => {
      const trace = traceHeaders();
      const headers = trace['traceparent'] ? trace : undefined;
      return writeTransaction(this.db, () => {
        const existing = this.getStmt.get(id) as { doc: string } | undefined;
        if (!existing) return false;
        this.deleteStmt.run(id);
        const before = JSON.parse(existing.doc) as RawDocument;
        // Debezium emits the delete event, then a tombstone (tombstones.on.delete=true) for compaction
        this.log.appendSync(this.opts.cdcTopic, [this.event('d', id, null, before, false, headers), { key: buildKey(id), value: null, ...(headers ? { headers } : {}) }]);
        return true;
      });
    });
  }

  async get(id: string): Promise<RawDocument | null> {
    const row = this.getStmt.get(id) as { doc: string } | undefined;
    return row ? (JSON.parse(row.doc) as RawDocument) : null;
  }

  async count(): Promise<number> {
    return Number((this.db.prepare('SELECT COUNT(*) AS n FROM documents').get() as { n: number }).n);
  }

  async snapshot(): Promise<number> {
    let n = 0;
    let after = '';
    const page = this.db.prepare('SELECT id, doc FROM documents WHERE id > ? ORDER BY id LIMIT 500');
    for (;;) {
      const rows = page.all(after) as Array<{ id: string; doc: string }>;
      if (rows.length === 0) break;
      transaction(this.db, () => {
        this.log.appendSync(this.opts.cdcTopic, rows.map((r) => this.event('r', r.id, JSON.parse(r.doc) as RawDocument, null, true)));
      });
      n += rows.length;
      after = rows[rows.length - 1]!.id;
    }
    return n;
  }

  /** A local file, open: usable. */
  async ping(): Promise<void> {}

  async close(): Promise<void> {}
}
