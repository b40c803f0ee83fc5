import type { DatabaseSync } from 'node:sqlite';
import { transaction } from '../../sqlite/open-database.ts';

/**
 * Retention and compaction of the embedded log: deletes records past each topic's retention and,
 * on compacted topics, records superseded by a newer one with the same key (in the same
 * partition); then moves each partition's start offset to its first remaining record. One
 * transaction per topic.
 */
export function applyRetention(db: DatabaseSync, now: number): { deleted: number } {
  let deleted = 0;
  const topics = db.prepare('SELECT name, compacted, retention_ms FROM log_topics').all() as Array<{ name: string; compacted: number; retention_ms: number }>;
  for (const t of topics) {
    transaction(db, () => {
      if (t.retention_ms > 0) {
        deleted += Number(db.prepare('DELETE FROM log_records WHERE topic = ? AND ts < ?').run(t.name, now - t.retention_ms).changes);
      }
      if (t.compacted === 1) {
        deleted += Number(db.prepare(`DELETE FROM log_records AS r WHERE r.topic = ? AND r.key IS NOT NULL AND EXISTS (
          SELECT 1 FROM log_records AS n WHERE n.topic = r.topic AND n.partition = r.partition AND n.key = r.key AND n.offset > r.offset)`).run(t.name).changes);
      }
      db.prepare(`UPDATE log_partitions SET start_offset = COALESCE(
          (SELECT MIN(offset) FROM log_records WHERE log_records.topic = log_partitions.topic AND log_records.partition = log_partitions.partition), next_offset)
        WHERE topic = ?`).run(t.name);
    });
  }
  return { deleted };
}
