/**
 * A change feed: the document store's changes, in write order, as records for the event log
 * (Debezium-MongoDB envelopes on the CDC topic; tombstones after deletes), read from a saved
 * position. The relay (connectors/relay) reads a batch, appends it to the log, and only then
 * commits the batch's position — so a crash re-sends, never skips. One relay at a time holds the
 * feed's lease. Adapters: the SQLite store's transactional outbox, and a MongoDB change stream.
 */
import type { ProducerRecord } from './event-log.ts';

export interface ChangeFeedEntry {
  topic: string;
  record: ProducerRecord;
}

export interface ChangeFeedBatch {
  entries: ChangeFeedEntry[];
  /**
   * Where the feed stands after these entries, to commit once the log acknowledged them (an outbox
   * sequence, a resume token; opaque to the relay). It may advance with no entries (a change stream's
   * post-batch resume token through idle periods); null: nothing new to save.
   */
  position: string | null;
}

export interface ChangeFeedStats {
  /** Changes written but not yet committed as relayed, when the feed can tell (null: it can't). */
  pending: number | null;
  /** Write time (ms) of the oldest of them, when known. */
  oldestPendingMs: number | null;
}

export interface ChangeFeed {
  readonly kind: string;
  /** Takes or renews the lease for `owner` for `ttlMs`; false while another relay's lease runs. */
  acquireLease(owner: string, ttlMs: number): Promise<boolean>;
  releaseLease(owner: string): Promise<void>;
  /**
   * The next changes (at most `limit`), waiting up to `waitMs` for one when there are none. Each call
   * continues after the previous batch; `rewind` goes back to the committed position.
   */
  read(limit: number, waitMs: number, signal: AbortSignal): Promise<ChangeFeedBatch>;
  /** Saves `position` as relayed. False (nothing saved) when `owner` no longer holds the lease. */
  commit(owner: string, position: string): Promise<boolean>;
  /** Forgets what was read and not committed: the next read starts at the committed position. */
  rewind(): Promise<void>;
  stats(): Promise<ChangeFeedStats>;
  close(): Promise<void>;
}
