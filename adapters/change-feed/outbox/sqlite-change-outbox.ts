import { EventEmitter } from 'node:events';
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { Headers, ProducerRecord } from '../../../ports/event-log.ts';
import { transaction } from '../../sqlite/open-database.ts';
import type { TransactionalChangeSink } from '../../document-store/embedded/embedded-document-store.ts';

/**
 * The change outbox: when the embedded SQLite store runs with Kafka as the event log, its change
 * events can't join the document write in one transaction with Kafka. They are written to this
 * table instead, in the SAME SQLite transaction as the document, and a relay
 * (connectors/relay) copies them to Kafka in order, through the ChangeFeed port. The relay moves `relayed_seq` only after
 * Kafka acknowledged the records — the DESIGN's relay contract (position persisted only after the
 * log acknowledged) — so a crash at any point re-sends, never skips. Consumers are idempotent.
 *
 * The store's owner (the API process) runs the relay; a lease row makes exactly one relay active
 * at a time (a restarted process overlapping its predecessor), and another takes over when it expires.
 */

export interface OutboxRow {
  seq: number;
  topic: string;
  record: ProducerRecord;
}

export interface OutboxStats {
  /** Change events written but not yet acknowledged by the log. */
  pending: number;
  /** Write time of the oldest pending event (ms), or null. */
  oldestPendingMs: number | null;
  /** Highest sequence number acknowledged by the log. */
  relayedSeq: number;
  /** Current relay (lease holder) and until when its lease runs. */
  owner: string | null;
  leaseUntil: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS change_outbox (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  topic TEXT NOT NULL,
  key TEXT,
  value BLOB,
  headers TEXT,
  ts INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS change_outbox_relay (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  relayed_seq INTEGER NOT NULL,
  owner TEXT,
  lease_until INTEGER NOT NULL,
  relayed_at INTEGER
);
INSERT OR IGNORE INTO change_outbox_relay (id, relayed_seq, owner, lease_until) VALUES (1, 0, NULL, 0);
`;

export class SqliteChangeOutbox implements TransactionalChangeSink {
  private readonly db: DatabaseSync;
  private readonly events = new EventEmitter();
  private readonly stmts: {
    insert: StatementSync;
    pending: StatementSync;
    state: StatementSync;
    lease: StatementSync;
    relayed: StatementSync;
    prune: StatementSync;
    release: StatementSync;
    count: StatementSync;
  };

  constructor(db: DatabaseSync) {
    this.db = db;
    db.exec(SCHEMA);
    const p = (sql: string) => db.prepare(sql);
    this.stmts = {
      insert: p('INSERT INTO change_outbox (topic, key, value, headers, ts) VALUES (?, ?, ?, ?, ?)'),
      pending: p(`SELECT seq, topic, key, value, headers, ts FROM change_outbox
                  WHERE seq > MAX(?, (SELECT relayed_seq FROM change_outbox_relay WHERE id = 1)) ORDER BY seq LIMIT ?`),
      state: p('SELECT relayed_seq, owner, lease_until FROM change_outbox_relay WHERE id = 1'),
      lease: p('UPDATE change_outbox_relay SET owner = ?, lease_until = ? WHERE id = 1'),
      relayed: p('UPDATE change_outbox_relay SET relayed_seq = MAX(relayed_seq, ?), relayed_at = ? WHERE id = 1'),
      prune: p('DELETE FROM change_outbox WHERE seq <= ?'),
      release: p('UPDATE change_outbox_relay SET lease_until = 0 WHERE id = 1 AND owner = ?'),
      count: p(`SELECT COUNT(*) AS n, MIN(ts) AS oldest FROM change_outbox
                WHERE seq > (SELECT relayed_seq FROM change_outbox_relay WHERE id = 1)`),
    };
  }

  /** Called by the store inside its transaction. Relays in this process are woken after the commit. */
  appendSync(topic: string, records: ProducerRecord[]): void {
    const now = Date.now();
    const run = () => {
      for (const r of records) {
        const headers = r.headers && Object.keys(r.headers).length > 0 ? JSON.stringify(r.headers) : null;
        this.stmts.insert.run(topic, r.key, r.value ?? null, headers, r.timestamp ?? now);
      }
    };
    if (this.db.isTransaction) run();
    else transaction(this.db, run);
    // after the caller's commit; a wake-up before it only costs the relay an empty read
    setImmediate(() => this.events.emit('append'));
  }

  /** Resolves when this process appends to the outbox, after `ms`, or when `signal` aborts. */
  waitForAppend(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const done = () => {
        clearTimeout(timer);
        this.events.off('append', done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.events.on('append', done);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  /** The oldest change events not yet acknowledged by the log (and after `afterSeq`), in write order. */
  pending(limit: number, afterSeq = 0): OutboxRow[] {
    const rows = this.stmts.pending.all(afterSeq, limit) as Array<{ seq: number; topic: string; key: string | null; value: Uint8Array | null; headers: string | null; ts: number }>;
    return rows.map((r) => ({
      seq: r.seq,
      topic: r.topic,
      record: { key: r.key, value: r.value, headers: r.headers ? (JSON.parse(r.headers) as Headers) : {}, timestamp: r.ts },
    }));
  }

  /** Takes or renews the relay lease; false while another relay's lease runs. */
  acquireLease(owner: string, ttlMs: number, now = Date.now()): boolean {
    return transaction(this.db, () => {
      const s = this.stmts.state.get() as { owner: string | null; lease_until: number };
      if (s.owner !== owner && s.lease_until > now) return false;
      this.stmts.lease.run(owner, now + ttlMs);
      return true;
    });
  }

  /**
   * Records that every event up to `seq` is acknowledged by the log, and deletes them. Refused
   * (false) when another relay took the lease meanwhile: it re-sends from the last position, so
   * events are duplicated at worst, never skipped.
   */
  markRelayed(owner: string, seq: number, now = Date.now()): boolean {
    return transaction(this.db, () => {
      const s = this.stmts.state.get() as { owner: string | null };
      if (s.owner !== owner) return false;
      this.stmts.relayed.run(seq, now);
      this.stmts.prune.run(seq);
      return true;
    });
  }

  releaseLease(owner: string): void {
    this.stmts.release.run(owner);
  }

  stats(): OutboxStats {
    const s = this.stmts.state.get() as { relayed_seq: number; owner: string | null; lease_until: number };
    const c = this.stmts.count.get() as { n: number; oldest: number | null };
    return { pending: Number(c.n), oldestPendingMs: c.oldest, relayedSeq: s.relayed_seq, owner: s.owner, leaseUntil: s.lease_until };
  }
}
