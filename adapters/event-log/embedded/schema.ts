import type { DatabaseSync, StatementSync } from 'node:sqlite';

/**
 * Tables of the embedded event log (one SQLite file, WAL):
 *
 * - `log_topics`: each topic's partition count, whether it is compacted, and its retention.
 * - `log_partitions`: per partition, the next offset to assign, the first offset still present
 *   (moved by retention and compaction) and the time of the last append.
 * - `log_records`: the records, keyed by (topic, partition, offset).
 * - `log_group_offsets`: each consumer group's committed position (the next offset to read).
 */
export const SCHEMA = `
CREATE TABLE IF NOT EXISTS log_topics (
  name TEXT PRIMARY KEY,
  partitions INTEGER NOT NULL,
  compacted INTEGER NOT NULL,
  retention_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS log_partitions (
  topic TEXT NOT NULL,
  partition INTEGER NOT NULL,
  next_offset INTEGER NOT NULL,
  start_offset INTEGER NOT NULL DEFAULT 0,
  last_ts INTEGER,
  PRIMARY KEY (topic, partition)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS log_records (
  topic TEXT NOT NULL,
  partition INTEGER NOT NULL,
  offset INTEGER NOT NULL,
  key TEXT,
  value BLOB,
  headers TEXT,
  ts INTEGER NOT NULL,
  PRIMARY KEY (topic, partition, offset)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS log_group_offsets (
  grp TEXT NOT NULL,
  topic TEXT NOT NULL,
  partition INTEGER NOT NULL,
  offset INTEGER NOT NULL,
  committed_at INTEGER NOT NULL,
  PRIMARY KEY (grp, topic, partition)
) WITHOUT ROWID;
`;

/** The statements of the hot paths (append, read, commit), prepared once per connection. */
export interface LogStatements {
  topic: StatementSync;
  partition: StatementSync;
  bumpPartition: StatementSync;
  insert: StatementSync;
  read: StatementSync;
  offsets: StatementSync;
  committed: StatementSync;
  commit: StatementSync;
  groupOffsetsAll: StatementSync;
  groupOffsetsOne: StatementSync;
}

export function prepareStatements(db: DatabaseSync): LogStatements {
  const p = (sql: string) => db.prepare(sql);
  return {
    topic: p('SELECT partitions, compacted, retention_ms FROM log_topics WHERE name = ?'),
    partition: p('SELECT next_offset FROM log_partitions WHERE topic = ? AND partition = ?'),
    bumpPartition: p('UPDATE log_partitions SET next_offset = ?, last_ts = ? WHERE topic = ? AND partition = ?'),
    insert: p('INSERT INTO log_records (topic, partition, offset, key, value, headers, ts) VALUES (?, ?, ?, ?, ?, ?, ?)'),
    read: p('SELECT offset, key, value, headers, ts FROM log_records WHERE topic = ? AND partition = ? AND offset >= ? ORDER BY offset LIMIT ?'),
    offsets: p('SELECT partition, next_offset, start_offset, last_ts FROM log_partitions WHERE topic = ? ORDER BY partition'),
    committed: p('SELECT offset FROM log_group_offsets WHERE grp = ? AND topic = ? AND partition = ?'),
    commit: p(`INSERT INTO log_group_offsets (grp, topic, partition, offset, committed_at) VALUES (?, ?, ?, ?, ?)
               ON CONFLICT (grp, topic, partition) DO UPDATE SET offset = excluded.offset, committed_at = excluded.committed_at`),
    groupOffsetsAll: p('SELECT grp, topic, partition, offset, committed_at FROM log_group_offsets ORDER BY grp, topic, partition'),
    groupOffsetsOne: p('SELECT grp, topic, partition, offset, committed_at FROM log_group_offsets WHERE grp = ? ORDER BY topic, partition'),
  };
}
