import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { transaction } from '../../sqlite/open-database.ts';
import type { FinetuneState, InputRecord, JobRow, OutboxRow, WindowRow } from '../../../ports/finetune-state.ts';
import type { CleanedDocument } from '../../../schemas/cleaned.ts';
import { PROBE_CATEGORY } from '../../../schemas/content.ts';
import { FINAL_JOB_STATES, type FinetuneDataset, type FinetuneDatasetStatus, type JobState } from '../../../schemas/finetune.ts';
import { Topics } from '../../../schemas/topics.ts';
import { decideTrigger, type TriggerDecision } from '../../../streams/threshold/threshold.ts';
import type { DatasetDocument, FeedbackItem } from '../../../streams/finetune/samples.ts';
import { datasetSignature, jobIdOf, toJobRecord } from '../../../streams/finetune/jobs.ts';

/**
 * The finetune-trigger's state in one SQLite database of its own (<data dir>/finetune/state.db).
 * Items are kept as versions (a row per change), so a window's snapshot — the latest row of each
 * item up to the window's `cut_seq` — stays readable while new items arrive; rows no pending window
 * needs are pruned once every window is pinned. The outbox table holds the records to publish.
 */


const SCHEMA = `
CREATE TABLE IF NOT EXISTS ft_positions (topic TEXT NOT NULL, partition INTEGER NOT NULL, next_offset INTEGER NOT NULL, PRIMARY KEY (topic, partition)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ft_failed (topic TEXT NOT NULL, partition INTEGER NOT NULL, offset INTEGER NOT NULL, at_ms INTEGER NOT NULL, PRIMARY KEY (topic, partition, offset)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ft_datasets (
  name TEXT PRIMARY KEY, signature TEXT NOT NULL, pending INTEGER NOT NULL DEFAULT 0, total INTEGER NOT NULL DEFAULT 0,
  crossed_at INTEGER, last_item_at INTEGER, last_fired_at INTEGER, last_version TEXT, last_launch_at INTEGER,
  backfilled INTEGER NOT NULL DEFAULT 0, dirty INTEGER NOT NULL DEFAULT 1);
CREATE TABLE IF NOT EXISTS ft_counted (dataset TEXT NOT NULL, content_hash TEXT NOT NULL, PRIMARY KEY (dataset, content_hash)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ft_items (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, dataset TEXT NOT NULL, item_key TEXT NOT NULL, item_version INTEGER NOT NULL,
  deleted INTEGER NOT NULL, body TEXT, source_partition INTEGER NOT NULL, source_offset INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS ft_items_by_key ON ft_items (dataset, item_key, seq);
CREATE TABLE IF NOT EXISTS ft_windows (
  id INTEGER PRIMARY KEY AUTOINCREMENT, dataset TEXT NOT NULL, cut_seq INTEGER NOT NULL, trigger TEXT NOT NULL, request_id TEXT,
  opened_at INTEGER NOT NULL, outcome TEXT NOT NULL, dataset_version TEXT, job_id TEXT, message TEXT, offsets TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at INTEGER NOT NULL DEFAULT 0);
CREATE UNIQUE INDEX IF NOT EXISTS ft_windows_by_request ON ft_windows (request_id) WHERE request_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS ft_jobs (
  id TEXT PRIMARY KEY, dataset TEXT NOT NULL, dataset_version TEXT NOT NULL, idempotency_key TEXT NOT NULL, rev INTEGER NOT NULL DEFAULT 0,
  items INTEGER NOT NULL, state TEXT NOT NULL,
  launcher TEXT NOT NULL, external_id TEXT, model TEXT, error TEXT, attempts INTEGER NOT NULL DEFAULT 0, trigger TEXT NOT NULL,
  request_ids TEXT NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, next_attempt_at INTEGER NOT NULL DEFAULT 0,
  UNIQUE (dataset, idempotency_key));
CREATE INDEX IF NOT EXISTS ft_jobs_by_version ON ft_jobs (dataset, dataset_version);
CREATE TABLE IF NOT EXISTS ft_instructions (cache_key TEXT PRIMARY KEY, instruction TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ft_outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL);
`;

const iso = (ms: number) => new Date(ms).toISOString();
const asList = (v: string | string[] | undefined) => (v === undefined ? null : Array.isArray(v) ? v : [v]);

export class SqliteFinetuneState implements FinetuneState {
  private readonly db: DatabaseSync;
  private readonly datasets: ReadonlyMap<string, FinetuneDataset>;
  private readonly now: () => number;
  private readonly stmts: Record<string, StatementSync>;

  constructor(options: { db: DatabaseSync; datasets: readonly FinetuneDataset[]; now?: () => number }) {
    this.db = options.db;
    this.datasets = new Map(options.datasets.map((d) => [d.name, d]));
    this.now = options.now ?? Date.now;
    this.db.exec(SCHEMA);
    const p = (sql: string) => this.db.prepare(sql);
    this.stmts = {
      position: p('SELECT next_offset FROM ft_positions WHERE topic = ? AND partition = ?'),
      setPosition: p('INSERT INTO ft_positions (topic, partition, next_offset) VALUES (?, ?, ?) ON CONFLICT (topic, partition) DO UPDATE SET next_offset = excluded.next_offset'),
      positions: p('SELECT partition, next_offset FROM ft_positions WHERE topic = ? ORDER BY partition'),
      failed: p('SELECT 1 FROM ft_failed WHERE topic = ? AND partition = ? AND offset = ?'),
      addFailed: p('INSERT OR IGNORE INTO ft_failed (topic, partition, offset, at_ms) VALUES (?, ?, ?, ?)'),
      dataset: p('SELECT * FROM ft_datasets WHERE name = ?'),
      latestItem: p('SELECT seq, item_version, deleted, body FROM ft_items WHERE dataset = ? AND item_key = ? ORDER BY seq DESC LIMIT 1'),
      addItem: p('INSERT INTO ft_items (dataset, item_key, item_version, deleted, body, source_partition, source_offset) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      counted: p('SELECT 1 FROM ft_counted WHERE dataset = ? AND content_hash = ?'),
      addCounted: p('INSERT INTO ft_counted (dataset, content_hash) VALUES (?, ?)'),
      maxSeq: p('SELECT COALESCE(MAX(seq), 0) AS seq FROM ft_items WHERE dataset = ?'),
      window: p('SELECT * FROM ft_windows WHERE id = ?'),
      windowByRequest: p('SELECT * FROM ft_windows WHERE request_id = ?'),
      job: p('SELECT * FROM ft_jobs WHERE id = ?'),
      outbox: p('INSERT INTO ft_outbox (topic, key, value) VALUES (?, ?, ?)'),
      // the per-record writes of apply, prepared once
      totalUp: p('UPDATE ft_datasets SET total = total + 1, dirty = 1 WHERE name = ?'),
      totalDown: p('UPDATE ft_datasets SET total = total - 1, dirty = 1 WHERE name = ?'),
      dirty: p('UPDATE ft_datasets SET dirty = 1 WHERE name = ?'),
      countOne: p(`UPDATE ft_datasets SET pending = pending + 1, last_item_at = ?,
        crossed_at = CASE WHEN crossed_at IS NULL AND pending + 1 >= ? THEN ? ELSE crossed_at END, dirty = 1 WHERE name = ?`),
    };
  }

  /**
   * Records the configured datasets. Returns the ones this state has not gathered yet (new, or
   * changed in what they select): their items are gathered from the start of their source topic.
   */
  register(): string[] {
    const added: string[] = [];
    transaction(this.db, () => {
      for (const d of this.datasets.values()) {
        const sig = datasetSignature(d);
        const row = this.stmts['dataset']!.get(d.name) as { signature: string; backfilled: number } | undefined;
        if (!row) {
          this.db.prepare('INSERT INTO ft_datasets (name, signature) VALUES (?, ?)').run(d.name, sig);
        } else if (row.signature !== sig) {
          // a different selection is a different dataset: gather its items again (its windows and jobs stay, as history)
          this.db.prepare('DELETE FROM ft_items WHERE dataset = ?').run(d.name);
          this.db.prepare('DELETE FROM ft_counted WHERE dataset = ?').run(d.name);
          this.db.prepare('UPDATE ft_datasets SET signature = ?, pending = 0, total = 0, crossed_at = NULL, backfilled = 0, dirty = 1 WHERE name = ?').run(sig, d.name);
        } else if (row.backfilled === 1) {
          continue;
        }
        added.push(d.name);
      }
    });
    return added;
  }

  /** Input positions are per topic: a dataset gathered late must first read what the others already passed. */
  needsBackfill(dataset: string): boolean {
    const row = this.stmts['dataset']!.get(dataset) as { backfilled: number } | undefined;
    return row?.backfilled === 0;
  }

  /** Applies records read from the start of a topic to one new dataset (up to the shared positions), then marks it gathered. */
  applyBackfill(dataset: string, topic: string, partition: number, records: InputRecord[]): void {
    transaction(this.db, () => {
      const upTo = this.position(topic, partition);
      const d = this.datasets.get(dataset);
      if (!d) return;
      for (const r of records) if (r.offset < upTo) this.applyOne(topic, partition, r, [d]);
    });
  }

  markBackfilled(dataset: string): void {
    this.db.prepare('UPDATE ft_datasets SET backfilled = 1, dirty = 1 WHERE name = ?').run(dataset);
  }

  position(topic: string, partition: number): number {
    return (this.stmts['position']!.get(topic, partition) as { next_offset: number } | undefined)?.next_offset ?? 0;
  }

  positions(topic: string): Record<string, number> {
    const out: Record<string, number> = {};
    for (const r of this.stmts['positions']!.all(topic) as Array<{ partition: number; next_offset: number }>) out[String(r.partition)] = r.next_offset;
    return out;
  }

  /** Whether a record at or past the stored position was dead-lettered before (a redelivered batch reports it again). */
  wasFailed(topic: string, partition: number, offset: number): boolean {
    return this.stmts['failed']!.get(topic, partition, offset) !== undefined;
  }

  /** Applies one partition's records in one transaction; records below the stored position were applied before and are skipped. */
  apply(topic: string, partition: number, records: InputRecord[]): { applied: number; changed: boolean } {
    return transaction(this.db, () => {
      const from = this.position(topic, partition);
      let next = from;
      let applied = 0;
      let changed = false;
      const targets = [...this.datasets.values()].filter((d) => !this.needsBackfill(d.name));
      for (const r of records) {
        if (r.offset < from) continue;
        if (this.applyOne(topic, partition, r, targets)) changed = true;
        applied++;
        next = Math.max(next, r.offset + 1);
      }
      if (next !== from) this.stmts['setPosition']!.run(topic, partition, next);
      return { applied, changed };
    });
  }

  private applyOne(topic: string, partition: number, r: InputRecord, targets: readonly FinetuneDataset[]): boolean {
    const now = this.now();
    switch (r.kind) {
      case 'failed':
        this.stmts['addFailed']!.run(topic, partition, r.offset, now);
        return false;
      case 'document': {
        let changed = false;
        for (const d of targets) {
          if (d.source !== 'content' || !matches(d, r.doc)) {
            // a document that no longer matches (its category changed) leaves the dataset
            if (d.source === 'content' && this.removeItem(d, r.doc.docId, r.doc.version, partition, r.offset)) changed = true;
            continue;
          }
          let mine = false;
          const body: DatasetDocument = { docId: r.doc.docId, version: r.doc.version, category: r.doc.category, author: r.doc.author, title: r.doc.title, url: r.doc.url, text: r.doc.text, contentHash: r.doc.contentHash };
          const json = JSON.stringify(body);
          const latest = this.stmts['latestItem']!.get(d.name, r.doc.docId) as { item_version: number; deleted: number; body: string | null } | undefined;
          if (latest && latest.item_version > r.doc.version) continue; // stale: a newer version is already here
          if (!latest || latest.body !== json) {
            this.stmts['addItem']!.run(d.name, r.doc.docId, r.doc.version, 0, json, partition, r.offset);
            if (!latest || latest.deleted === 1) this.stmts['totalUp']!.run(d.name);
            mine = true;
          }
          if (this.stmts['counted']!.get(d.name, r.doc.contentHash) === undefined) {
            this.stmts['addCounted']!.run(d.name, r.doc.contentHash);
            this.countOne(d, now);
            mine = true;
          }
          if (mine) {
            changed = true;
            this.stmts['dirty']!.run(d.name);
          }
        }
        return changed;
      }
      case 'deletion': {
        let changed = false;
        for (const d of targets) if (d.source === 'content' && this.removeItem(d, r.docId, r.version, partition, r.offset)) changed = true;
        return changed;
      }
      case 'feedback': {
        let changed = false;
        for (const d of targets) {
          if (d.source !== 'feedback') continue;
          if (this.stmts['latestItem']!.get(d.name, r.event.id) !== undefined) continue; // the same feedback event again
          const body: FeedbackItem = { id: r.event.id, rating: r.event.rating, receivedAtMs: r.event.receivedAtMs };
          for (const k of ['traceId', 'query', 'answer', 'correction'] as const) if (r.event[k] !== undefined) body[k] = r.event[k];
          this.stmts['addItem']!.run(d.name, r.event.id, r.event.receivedAtMs, 0, JSON.stringify(body), partition, r.offset);
          this.stmts['totalUp']!.run(d.name);
          this.countOne(d, now);
          changed = true;
        }
        return changed;
      }
      case 'trigger': {
        const d = this.datasets.get(r.dataset);
        if (!d || this.stmts['windowByRequest']!.get(r.requestId) !== undefined) return false;
        this.openWindowNow(d, 'manual', r.requestId, now);
        return true;
      }
      case 'job-status': {
        const job = this.job(r.jobId);
        // a report is about a job its launcher accepted: one not launched yet, or final, is left alone
        if (!job || (job.state !== 'launched' && job.state !== 'running')) return false;
        this.updateJob(job.id, {
          state: r.state,
          ...(r.model !== undefined ? { model: r.model } : {}),
          ...(r.error !== undefined ? { error: r.error } : {}),
          ...(r.externalId !== undefined ? { externalId: r.externalId } : {}),
        });
        return true;
      }
    }
  }

  /** `version` null (a tombstone without its version header): deleted at the version the item has now. */
  private removeItem(d: FinetuneDataset, docId: string, version: number | null, partition: number, offset: number): boolean {
    const latest = this.stmts['latestItem']!.get(d.name, docId) as { item_version: number; deleted: number } | undefined;
    if (!latest || latest.deleted === 1 || (version !== null && latest.item_version > version)) return false;
    this.stmts['addItem']!.run(d.name, docId, version ?? latest.item_version, 1, null, partition, offset);
    this.stmts['totalDown']!.run(d.name);
    return true;
  }

  private countOne(d: FinetuneDataset, now: number): void {
    this.stmts['countOne']!.run(now, d.threshold, now, d.name);
  }


  /** The trigger's decision for each configured dataset now. */
  decisions(): Array<{ dataset: FinetuneDataset; pending: number; decision: TriggerDecision }> {
    const now = this.now();
    const out: Array<{ dataset: FinetuneDataset; pending: number; decision: TriggerDecision }> = [];
    for (const d of this.datasets.values()) {
      const row = this.stmts['dataset']!.get(d.name) as { pending: number; crossed_at: number | null; last_item_at: number | null; last_fired_at: number | null; backfilled: number } | undefined;
      if (!row || row.backfilled === 0) continue;
      out.push({ dataset: d, pending: row.pending, decision: decideTrigger({
        pending: row.pending, threshold: d.threshold, cooldownMs: d.cooldownMs, settleMs: d.settleMs,
        lastFiredAtMs: row.last_fired_at, lastItemAtMs: row.last_item_at, crossedAtMs: row.crossed_at, nowMs: now,
      }) });
    }
    return out;
  }

  /** Opens a window for a dataset the threshold made due (re-checked inside the transaction). */
  fireIfDue(name: string): WindowRow | null {
    return transaction(this.db, () => {
      const hit = this.decisions().find((x) => x.dataset.name === name);
      if (!hit?.decision.fire) return null;
      return this.openWindowNow(hit.dataset, 'threshold', null, this.now());
    });
  }

  private openWindowNow(d: FinetuneDataset, trigger: 'threshold' | 'manual', requestId: string | null, now: number): WindowRow {
    const cut = (this.stmts['maxSeq']!.get(d.name) as { seq: number }).seq;
    const topic = d.source === 'content' ? Topics.cleaned : Topics.feedback;
    const offsets = { [topic]: this.positions(topic) };
    const info = this.db.prepare(`INSERT INTO ft_windows (dataset, cut_seq, trigger, request_id, opened_at, outcome, offsets) VALUES (?, ?, ?, ?, ?, 'pending', ?)`)
      .run(d.name, cut, trigger, requestId, now, JSON.stringify(offsets));
    this.db.prepare('UPDATE ft_datasets SET pending = 0, crossed_at = NULL, last_fired_at = ?, dirty = 1 WHERE name = ?').run(now, d.name);
    return this.window(Number(info.lastInsertRowid))!;
  }

  window(id: number): WindowRow | null {
    const r = this.stmts['window']!.get(id) as Record<string, unknown> | undefined;
    return r ? toWindow(r) : null;
  }

  /** Windows not yet pinned and launched, oldest first. */
  pendingWindows(): WindowRow[] {
    return (this.db.prepare(`SELECT * FROM ft_windows WHERE outcome = 'pending' ORDER BY id`).all() as Array<Record<string, unknown>>).map(toWindow);
  }

  lastWindow(dataset: string): WindowRow | null {
    const r = this.db.prepare('SELECT * FROM ft_windows WHERE dataset = ? ORDER BY id DESC LIMIT 1').get(dataset) as Record<string, unknown> | undefined;
    return r ? toWindow(r) : null;
  }

  /** The dataset as it was at a window's last item: the latest version of each item, deletions left out. */
  snapshot(dataset: string, cutSeq: number): { items: unknown[]; versions: Array<{ key: string; version: number }> } {
    const rows = this.db.prepare(`SELECT i.item_key, i.item_version, i.body FROM ft_items i
      JOIN (SELECT item_key, MAX(seq) AS seq FROM ft_items WHERE dataset = ? AND seq <= ? GROUP BY item_key) l ON l.seq = i.seq
      WHERE i.deleted = 0 ORDER BY i.item_key`).all(dataset, cutSeq) as Array<{ item_key: string; item_version: number; body: string }>;
    return { items: rows.map((r) => JSON.parse(r.body) as unknown), versions: rows.map((r) => ({ key: r.item_key, version: r.item_version })) };
  }

  documentsAt(dataset: string, cutSeq: number): DatasetDocument[] {
    return this.snapshot(dataset, cutSeq).items as DatasetDocument[];
  }

  feedbackAt(dataset: string, cutSeq: number): FeedbackItem[] {
    return this.snapshot(dataset, cutSeq).items as FeedbackItem[];
  }

  /**
   * A window's version is pinned: records its job (a new one, or the existing job of the same
   * version — the same key is never launched twice) before anything is launched.
   */
  windowPinned(windowId: number, pinned: { version: string; items: number; launcher: JobRow['launcher'] }): JobRow {
    return transaction(this.db, () => {
      const w = this.window(windowId)!;
      const now = this.now();
      const forVersion = (this.db.prepare('SELECT * FROM ft_jobs WHERE dataset = ? AND dataset_version = ? ORDER BY created_at, rowid')
        .all(w.dataset, pinned.version) as Array<Record<string, unknown>>).map(toJob);
      let job = forVersion.at(-1) ?? null;
      let message: string | null = null;
      // a manual trigger of a version whose job failed or was cancelled is a retry: a new job under a new key
      const retry = job !== null && w.trigger === 'manual' && (job.state === 'failed' || job.state === 'cancelled');
      if (!job || retry) {
        const n = forVersion.length + 1;
        const id = n === 1 ? jobIdOf(w.dataset, pinned.version) : `${jobIdOf(w.dataset, pinned.version)}-r${n}`;
        const key = n === 1 ? pinned.version : `${pinned.version}-r${n}`;
        if (retry) message = `version ${pinned.version}'s job ${job!.id} ${job!.state}: retried as job ${id} (key ${key})`;
        this.db.prepare(`INSERT INTO ft_jobs (id, dataset, dataset_version, idempotency_key, items, state, launcher, trigger, request_ids, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?)`)
          .run(id, w.dataset, pinned.version, key, pinned.items, pinned.launcher, w.trigger, JSON.stringify(w.requestId ? [w.requestId] : []), now, now);
        job = this.job(id)!;
        this.enqueueJob(job);
      } else {
        message = `version ${pinned.version} already has job ${job.id} (${job.state})`;
        if (w.requestId && !job.requestIds.includes(w.requestId)) {
          this.db.prepare('UPDATE ft_jobs SET request_ids = ?, updated_at = ?, rev = rev + 1 WHERE id = ?').run(JSON.stringify([...job.requestIds, w.requestId]), now, job.id);
          job = this.job(job.id)!;
          this.enqueueJob(job);
        }
      }
      this.db.prepare(`UPDATE ft_windows SET outcome = 'job', dataset_version = ?, job_id = ?, message = ? WHERE id = ?`).run(pinned.version, job.id, message, windowId);
      this.db.prepare('UPDATE ft_datasets SET last_version = ?, dirty = 1 WHERE name = ?').run(pinned.version, w.dataset);
      return job;
    });
  }


  /** A window that holds nothing trainable (no samples, no pairs) launches nothing. */
  windowEmpty(windowId: number, message: string): void {
    transaction(this.db, () => {
      const w = this.window(windowId)!;
      this.db.prepare(`UPDATE ft_windows SET outcome = 'empty', message = ? WHERE id = ?`).run(message, windowId);
      this.db.prepare('UPDATE ft_datasets SET dirty = 1 WHERE name = ?').run(w.dataset);
    });
  }

  /** A pin that failed (registry unreachable): tried again at `nextAtMs`. */
  windowRetry(windowId: number, message: string, nextAtMs: number): void {
    this.db.prepare('UPDATE ft_windows SET attempts = attempts + 1, next_attempt_at = ?, message = ? WHERE id = ?').run(nextAtMs, message, windowId);
  }

  windowFailed(windowId: number, message: string): void {
    transaction(this.db, () => {
      const w = this.window(windowId)!;
      this.db.prepare(`UPDATE ft_windows SET outcome = 'failed', message = ? WHERE id = ?`).run(message, windowId);
      this.db.prepare('UPDATE ft_datasets SET dirty = 1 WHERE name = ?').run(w.dataset);
    });
  }

  /** Drops item versions no window can still need (every window is pinned): superseded versions. */
  prune(dataset: string): void {
    transaction(this.db, () => {
      if (this.db.prepare(`SELECT 1 FROM ft_windows WHERE dataset = ? AND outcome = 'pending' LIMIT 1`).get(dataset)) return;
      this.db.prepare(`DELETE FROM ft_items WHERE dataset = ? AND seq NOT IN (SELECT MAX(seq) FROM ft_items WHERE dataset = ? GROUP BY item_key)`).run(dataset, dataset);
      // the latest row of a deleted item stays: it is the version the deletion happened at, which a stale
      // older version arriving later must lose to
      this.db.prepare('DELETE FROM ft_failed WHERE at_ms < ?').run(this.now() - 24 * 3600_000);
    });
  }

  job(id: string): JobRow | null {
    const r = this.stmts['job']!.get(id) as Record<string, unknown> | undefined;
    return r ? toJob(r) : null;
  }

  jobs(): JobRow[] {
    return (this.db.prepare('SELECT * FROM ft_jobs ORDER BY created_at, id').all() as Array<Record<string, unknown>>).map(toJob);
  }

  /** Jobs to launch (never launched, or launching with an unknown outcome) or to poll (running), due now. */
  activeJobs(): JobRow[] {
    return (this.db.prepare(`SELECT * FROM ft_jobs WHERE state IN ('pending', 'launching', 'running') ORDER BY created_at, id`).all() as Array<Record<string, unknown>>).map(toJob);
  }

  updateJob(id: string, patch: Partial<Pick<JobRow, 'state' | 'externalId' | 'model' | 'error' | 'nextAttemptAtMs'>> & { attempt?: true; launched?: true }, opts: { ifRev?: number } = {}): JobRow | null {
    return transaction(this.db, () => {
      const now = this.now();
      const job = this.job(id);
      // a final state never changes; a writer that read an older revision (a report arrived meanwhile) loses
      if (!job || FINAL_JOB_STATES.includes(job.state) || (opts.ifRev !== undefined && job.rev !== opts.ifRev)) return null;
      const next: JobRow = {
        ...job,
        ...(patch.state !== undefined ? { state: patch.state } : {}),
        ...(patch.externalId !== undefined ? { externalId: patch.externalId } : {}),
        ...(patch.model !== undefined ? { model: patch.model } : {}),
        ...(patch.error !== undefined ? { error: patch.error } : {}),
        ...(patch.nextAttemptAtMs !== undefined ? { nextAttemptAtMs: patch.nextAttemptAtMs } : {}),
        attempts: job.attempts + (patch.attempt ? 1 : 0),
        updatedAtMs: now,
        rev: job.rev + 1,
      };
      this.db.prepare('UPDATE ft_jobs SET state = ?, external_id = ?, model = ?, error = ?, attempts = ?, next_attempt_at = ?, updated_at = ?, rev = ? WHERE id = ?')
        .run(next.state, next.externalId, next.model, next.error, next.attempts, next.nextAttemptAtMs, now, next.rev, id);
      if (patch.launched) this.db.prepare('UPDATE ft_datasets SET last_launch_at = ?, dirty = 1 WHERE name = ?').run(now, job.dataset);
      const visible = next.state !== job.state || next.externalId !== job.externalId || next.model !== job.model || next.error !== job.error || next.attempts !== job.attempts;
      if (visible) this.enqueueJob(next);
      return next;
    });
  }


  private enqueueJob(job: JobRow): void {
    this.stmts['outbox']!.run(Topics.finetuneJobs, job.id, JSON.stringify(toJobRecord(job)));
  }

  /** The status record of a dataset, as published and served. */
  status(name: string): FinetuneDatasetStatus | null {
    const d = this.datasets.get(name);
    const row = this.stmts['dataset']!.get(name) as { pending: number; total: number; last_version: string | null; last_launch_at: number | null } | undefined;
    if (!d || !row) return null;
    const w = this.lastWindow(name);
    return {
      name, source: d.source, format: d.format, pending: row.pending, threshold: d.threshold, cooldownMs: d.cooldownMs, total: row.total,
      lastVersion: row.last_version, lastLaunchAt: row.last_launch_at === null ? null : iso(row.last_launch_at),
      lastWindow: w ? { trigger: w.trigger, requestId: w.requestId, openedAt: iso(w.openedAtMs), outcome: w.outcome, datasetVersion: w.datasetVersion, jobId: w.jobId, message: w.message } : null,
      updatedAt: iso(this.now()),
    };
  }

  /** Datasets whose status changed since it was last published; `clear` marks them published. */
  /** Puts the status of every changed dataset in the outbox and marks it published, in one transaction. */
  enqueueStatuses(): number {
    return transaction(this.db, () => {
      const names = this.dirtyDatasets();
      for (const n of names) this.stmts['outbox']!.run(Topics.finetuneDatasets, n, JSON.stringify(this.status(n)));
      this.clearDirty(names);
      return names.length;
    });
  }

  dirtyDatasets(): string[] {
    return (this.db.prepare('SELECT name FROM ft_datasets WHERE dirty = 1').all() as Array<{ name: string }>).map((r) => r.name).filter((n) => this.datasets.has(n));
  }

  clearDirty(names: readonly string[]): void {
    const st = this.db.prepare('UPDATE ft_datasets SET dirty = 0 WHERE name = ?');
    transaction(this.db, () => { for (const n of names) st.run(n); });
  }

  markDirty(names: readonly string[]): void {
    const st = this.db.prepare('UPDATE ft_datasets SET dirty = 1 WHERE name = ?');
    transaction(this.db, () => { for (const n of names) st.run(n); });
  }

  outbox(limit: number): OutboxRow[] {
    return this.db.prepare('SELECT seq, topic, key, value FROM ft_outbox ORDER BY seq LIMIT ?').all(limit) as unknown as OutboxRow[];
  }

  ackOutbox(upToSeq: number): void {
    this.db.prepare('DELETE FROM ft_outbox WHERE seq <= ?').run(upToSeq);
  }

  instruction(key: string): string | null {
    return (this.db.prepare('SELECT instruction FROM ft_instructions WHERE cache_key = ?').get(key) as { instruction: string } | undefined)?.instruction ?? null;
  }

  saveInstruction(key: string, instruction: string): void {
    this.db.prepare('INSERT OR IGNORE INTO ft_instructions (cache_key, instruction) VALUES (?, ?)').run(key, instruction);
  }
}

function matches(d: FinetuneDataset, doc: CleanedDocument): boolean {
  // the freshness probe's document is in no dataset
  if (doc.category === PROBE_CATEGORY) return false;
  const cats = asList(d.filter?.category);
  const authors = asList(d.filter?.author);
  return (!cats || cats.includes(doc.category)) && (!authors || authors.includes(doc.author));
}

function toWindow(r: Record<string, unknown>): WindowRow {
  return {
    id: Number(r['id']), dataset: String(r['dataset']), cutSeq: Number(r['cut_seq']), trigger: r['trigger'] as WindowRow['trigger'],
    requestId: (r['request_id'] as string | null) ?? null, openedAtMs: Number(r['opened_at']), outcome: r['outcome'] as WindowRow['outcome'],
    datasetVersion: (r['dataset_version'] as string | null) ?? null, jobId: (r['job_id'] as string | null) ?? null, message: (r['message'] as string | null) ?? null,
    offsets: JSON.parse(String(r['offsets'])) as WindowRow['offsets'], attempts: Number(r['attempts']), nextAttemptAtMs: Number(r['next_attempt_at']),
  };
}

function toJob(r: Record<string, unknown>): JobRow {
  return {
    id: String(r['id']), dataset: String(r['dataset']), datasetVersion: String(r['dataset_version']), idempotencyKey: String(r['idempotency_key']),
    rev: Number(r['rev']), items: Number(r['items']),
    state: r['state'] as JobState, launcher: r['launcher'] as JobRow['launcher'], externalId: (r['external_id'] as string | null) ?? null,
    model: (r['model'] as string | null) ?? null, error: (r['error'] as string | null) ?? null, attempts: Number(r['attempts']),
    trigger: r['trigger'] as JobRow['trigger'], requestIds: JSON.parse(String(r['request_ids'])) as string[],
    createdAtMs: Number(r['created_at']), updatedAtMs: Number(r['updated_at']), nextAttemptAtMs: Number(r['next_attempt_at']),
  };
}
