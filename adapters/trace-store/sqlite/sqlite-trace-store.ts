import type { DatabaseSync } from 'node:sqlite';
import { transaction } from '../../sqlite/open-database.ts';
import type { TraceStore } from '../../../ports/trace-store.ts';
import type { RagTrace } from '../../../schemas/trace.ts';
import type { FeedbackEvent } from '../../../schemas/feedback.ts';
import type { Judgement } from '../../../schemas/judgement.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS tr_positions (topic TEXT NOT NULL, partition INTEGER NOT NULL, next_offset INTEGER NOT NULL, PRIMARY KEY (topic, partition)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tr_traces (trace_id TEXT PRIMARY KEY, at_ms INTEGER NOT NULL, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS tr_traces_by_time ON tr_traces (at_ms);
CREATE TABLE IF NOT EXISTS tr_feedback (id TEXT PRIMARY KEY, trace_id TEXT NOT NULL, received_at_ms INTEGER NOT NULL, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS tr_feedback_by_trace ON tr_feedback (trace_id);
CREATE TABLE IF NOT EXISTS tr_judgements (trace_id TEXT PRIMARY KEY, body TEXT NOT NULL) WITHOUT ROWID;
`;

/** The trace view in a SQLite database of its own (<data dir>/traces.db). */
export class SqliteTraceStore implements TraceStore {
  readonly kind = 'sqlite';
  private readonly db: DatabaseSync;

  constructor(options: { db: DatabaseSync }) {
    this.db = options.db;
    this.db.exec(SCHEMA);
  }

  apply(batch: { traces: RagTrace[]; feedback: FeedbackEvent[]; judgements?: Judgement[]; positions: Array<{ topic: string; partition: number; next: number }> }): void {
    const putTrace = this.db.prepare('INSERT OR REPLACE INTO tr_traces (trace_id, at_ms, body) VALUES (?, ?, ?)');
    const putFeedback = this.db.prepare('INSERT OR REPLACE INTO tr_feedback (id, trace_id, received_at_ms, body) VALUES (?, ?, ?, ?)');
    const putJudgement = this.db.prepare('INSERT OR REPLACE INTO tr_judgements (trace_id, body) VALUES (?, ?)');
    const putPosition = this.db.prepare('INSERT INTO tr_positions (topic, partition, next_offset) VALUES (?, ?, ?) ON CONFLICT (topic, partition) DO UPDATE SET next_offset = MAX(next_offset, excluded.next_offset)');
    transaction(this.db, () => {
      for (const t of batch.traces) putTrace.run(t.traceId, Date.parse(t.at), JSON.stringify(t));
      for (const f of batch.feedback) if (f.traceId) putFeedback.run(f.id, f.traceId, f.receivedAtMs, JSON.stringify(f));
      for (const j of batch.judgements ?? []) putJudgement.run(j.traceId, JSON.stringify(j));
      for (const p of batch.positions) putPosition.run(p.topic, p.partition, p.next);
    });
  }

  position(topic: string, partition: number): number {
    return (this.db.prepare('SELECT next_offset FROM tr_positions WHERE topic = ? AND partition = ?').get(topic, partition) as { next_offset: number } | undefined)?.next_offset ?? 0;
  }

  list(options: { sinceMs?: number; limit: number }): Array<{ trace: RagTrace; judgement: Judgement | null }> {
    const rows = this.db.prepare(`SELECT t.body AS trace, j.body AS judgement FROM tr_traces t LEFT JOIN tr_judgements j ON j.trace_id = t.trace_id
      WHERE t.at_ms >= ? ORDER BY t.at_ms DESC, t.trace_id LIMIT ?`).all(options.sinceMs ?? 0, options.limit) as Array<{ trace: string; judgement: string | null }>;
    return rows.map((r) => ({ trace: JSON.parse(r.trace) as RagTrace, judgement: r.judgement === null ? null : JSON.parse(r.judgement) as Judgement }));
  }

  get(traceId: string): { trace: RagTrace; feedback: FeedbackEvent[]; judgement: Judgement | null } | null {
    const row = this.db.prepare('SELECT t.body AS trace, j.body AS judgement FROM tr_traces t LEFT JOIN tr_judgements j ON j.trace_id = t.trace_id WHERE t.trace_id = ?')
      .get(traceId) as { trace: string; judgement: string | null } | undefined;
    if (!row) return null;
    const feedback = (this.db.prepare('SELECT body FROM tr_feedback WHERE trace_id = ? ORDER BY received_at_ms, id').all(traceId) as Array<{ body: string }>).map((r) => JSON.parse(r.body) as FeedbackEvent);
    return { trace: JSON.parse(row.trace) as RagTrace, feedback, judgement: row.judgement === null ? null : JSON.parse(row.judgement) as Judgement };
  }

  prune(beforeMs: number): number {
    let n = 0;
    transaction(this.db, () => {
      const old = 'SELECT trace_id FROM tr_traces WHERE at_ms < ?';
      this.db.prepare(`DELETE FROM tr_feedback WHERE trace_id IN (${old})`).run(beforeMs);
      this.db.prepare(`DELETE FROM tr_judgements WHERE trace_id IN (${old})`).run(beforeMs);
      n = Number(this.db.prepare('DELETE FROM tr_traces WHERE at_ms < ?').run(beforeMs).changes);
    });
    return n;
  }

  close(): void {
    this.db.close();
  }
}
