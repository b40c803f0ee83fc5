import type { ChangeFeed, ChangeFeedBatch, ChangeFeedStats } from '../../../ports/change-feed.ts';
import type { SqliteChangeOutbox } from './sqlite-change-outbox.ts';

/**
 * The SQLite store's transactional outbox as a change feed: the position is the outbox sequence.
 * Reads continue after the last one read (or the committed one, whichever is later); `rewind` goes
 * back to the committed one. The store's owner closes the database; closing the feed closes nothing.
 */
export class OutboxChangeFeed implements ChangeFeed {
  readonly kind = 'outbox';
  private readonly outbox: SqliteChangeOutbox;
  /** Last sequence handed out by read() since the last rewind. */
  private readSeq = 0;

  constructor(outbox: SqliteChangeOutbox) {
    this.outbox = outbox;
  }

  async acquireLease(owner: string, ttlMs: number): Promise<boolean> {
    return this.outbox.acquireLease(owner, ttlMs);
  }

  async releaseLease(owner: string): Promise<void> {
    this.outbox.releaseLease(owner);
  }

  /** The oldest changes not yet committed, in write order; waits up to `waitMs` for a write of this process when there are none. */
  async read(limit: number, waitMs: number, signal: AbortSignal): Promise<ChangeFeedBatch> {
    let rows = this.outbox.pending(limit, this.readSeq);
    if (rows.length === 0) {
      await this.outbox.waitForAppend(waitMs, signal);
      rows = this.outbox.pending(limit, this.readSeq);
    }
    if (rows.length > 0) this.readSeq = rows[rows.length - 1]!.seq;
    return { entries: rows.map((r) => ({ topic: r.topic, record: r.record })), position: rows.length > 0 ? String(rows[rows.length - 1]!.seq) : null };
  }

  async commit(owner: string, position: string): Promise<boolean> {
    return this.outbox.markRelayed(owner, Number(position));
  }

  async rewind(): Promise<void> {
    this.readSeq = 0;
  }

  async stats(): Promise<ChangeFeedStats> {
    const s = this.outbox.stats();
    return { pending: s.pending, oldestPendingMs: s.oldestPendingMs };
  }

  async close(): Promise<void> {}
}
