import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteFinetuneState } from '../../../adapters/finetune-state/sqlite/sqlite-finetune-state.ts';
import { openDatabase } from '../../../adapters/sqlite/open-database.ts';
import type { InputRecord, WindowRow } from '../../../ports/finetune-state.ts';
import type { CleanedDocument } from '../../../schemas/cleaned.ts';
import type { FeedbackEvent } from '../../../schemas/feedback.ts';
import { finetuneDatasetSchema, finetuneDatasetStatusSchema, finetuneJobSchema, type FinetuneDataset } from '../../../schemas/finetune.ts';
import { Topics } from '../../../schemas/topics.ts';
import type { DatasetDocument } from '../../../streams/finetune/samples.ts';

const T0 = 1_700_000_000_000;
const C = Topics.cleaned;
const F = Topics.feedback;
const CMD = Topics.finetuneCommands;
const LATEST = Number.MAX_SAFE_INTEGER;
const iso = (ms: number) => new Date(ms).toISOString();
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

const launcher = { type: 'webhook', url: 'http://127.0.0.1:9/hooks/finetune' };
/** A content dataset: threshold 3, settles after 1 s, no cooldown. */
const contentDs = (over: Record<string, unknown> = {}): FinetuneDataset =>
  finetuneDatasetSchema.parse({ name: 'docs', source: 'content', threshold: 3, settleMs: 1000, launcher, ...over });
const feedbackDs = (over: Record<string, unknown> = {}): FinetuneDataset =>
  finetuneDatasetSchema.parse({ name: 'prefs', source: 'feedback', threshold: 2, settleMs: 1000, launcher, ...over });

function cleaned(docId: string, text: string, over: Partial<CleanedDocument> = {}): CleanedDocument {
  return { docId, version: 1, category: 'article', author: 'ann', title: `Title ${docId}`, url: null, text, contentHash: sha(text), sourceTsMs: T0, cleanedAtMs: T0, ...over };
}
const docRec = (offset: number, doc: CleanedDocument): InputRecord => ({ kind: 'document', offset, doc });
const delRec = (offset: number, docId: string, version: number | null): InputRecord => ({ kind: 'deletion', offset, docId, version });
const fbRec = (offset: number, event: FeedbackEvent): InputRecord => ({ kind: 'feedback', offset, event });
const trigRec = (offset: number, requestId: string, dataset = 'docs'): InputRecord => ({ kind: 'trigger', offset, requestId, dataset, atMs: T0 });
/** Documents d<from>…d<from+n-1> at offsets from `offset`. */
const docs = (offset: number, from: number, n: number): InputRecord[] =>
  Array.from({ length: n }, (_, i) => docRec(offset + i, cleaned(`d${from + i}`, `text of d${from + i}`)));

let clock = T0;
let dir: string;
const opened: DatabaseSync[] = [];

beforeEach(() => {
  clock = T0;
  dir = mkdtempSync(join(tmpdir(), 'tributary-ft-state-'));
});
afterEach(() => {
  for (const db of opened.splice(0)) if (db.isOpen) db.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A state over a database (in memory unless a path is given); registers the datasets and marks the new ones gathered. */
function open(datasets: FinetuneDataset[], path = ':memory:', opts: { backfill?: boolean } = {}): { db: DatabaseSync; state: SqliteFinetuneState; registered: string[] } {
  const db = openDatabase({ path, synchronous: 'normal' });
  opened.push(db);
  const state = new SqliteFinetuneState({ db, datasets, now: () => clock });
  const registered = state.register();
  if (opts.backfill !== false) for (const n of registered) state.markBackfilled(n);
  return { db, state, registered };
}

const texts = (ds: DatasetDocument[]) => ds.map((d) => [d.docId, d.text]);
const itemRows = (db: DatabaseSync, dataset: string) => (db.prepare('SELECT COUNT(*) AS n FROM ft_items WHERE dataset = ?').get(dataset) as { n: number }).n;

/** Fills the dataset to its threshold and lets it settle; returns the window. */
function crossAndFire(state: SqliteFinetuneState, offset: number, from: number, n = 3): WindowRow {
  state.apply(C, 0, docs(offset, from, n));
  clock += 1000;
  const w = state.fireIfDue('docs');
  expect(w).not.toBeNull();
  return w!;
}

describe('apply: input positions', () => {
  it('is idempotent across redelivery: records below the stored position are skipped', () => {
    const { state } = open([contentDs()]);
    const batch = docs(0, 1, 2);
    expect(state.apply(C, 0, batch)).toEqual({ applied: 2, changed: true });
    expect(state.position(C, 0)).toBe(2);
    expect(state.apply(C, 0, batch)).toEqual({ applied: 0, changed: false });
    expect(state.status('docs')).toMatchObject({ pending: 2, total: 2 });
    // an overlapping batch: only the record past the position counts
    expect(state.apply(C, 0, [batch[1]!, ...docs(2, 3, 1)])).toEqual({ applied: 1, changed: true });
    expect(state.position(C, 0)).toBe(3);
    expect(state.status('docs')).toMatchObject({ pending: 3, total: 3 });
  });

  it('positions advance per topic and partition', () => {
    const { state } = open([contentDs(), feedbackDs()]);
    state.apply(C, 0, docs(0, 1, 3));
    // offset 0 of partition 1 is not below partition 0's position
    expect(state.apply(C, 1, docs(0, 10, 1))).toEqual({ applied: 1, changed: true });
    expect(state.apply(F, 0, [fbRec(0, { id: 'f1', rating: 'up', receivedAtMs: T0 })])).toEqual({ applied: 1, changed: true });
    expect(state.positions(C)).toEqual({ 0: 3, 1: 1 });
    expect(state.positions(F)).toEqual({ 0: 1 });
    expect(state.position(F, 1)).toBe(0);
    expect(state.positions(CMD)).toEqual({});
    expect(state.status('docs')).toMatchObject({ pending: 4, total: 4 });
  });

  it('a dead-lettered record advances the position and is remembered as failed', () => {
    const { state } = open([contentDs()]);
    expect(state.apply(C, 0, [...docs(0, 1, 1), { kind: 'failed', offset: 1 }])).toEqual({ applied: 2, changed: true });
    expect(state.position(C, 0)).toBe(2);
    expect(state.wasFailed(C, 0, 1)).toBe(true);
    expect(state.wasFailed(C, 0, 0)).toBe(false);
    expect(state.wasFailed(C, 1, 1)).toBe(false);
    expect(state.apply(C, 0, [{ kind: 'failed', offset: 2 }])).toEqual({ applied: 1, changed: false });
  });
});

describe('apply: counting content', () => {
  it('counts net-new text: a re-published identical text and the same text under another docId do not count; new text does', () => {
    const { state } = open([contentDs()]);
    state.apply(C, 0, [docRec(0, cleaned('d1', 'one'))]);
    expect(state.status('docs')).toMatchObject({ pending: 1, total: 1 });

    expect(state.apply(C, 0, [docRec(1, cleaned('d1', 'one'))])).toEqual({ applied: 1, changed: false });
    expect(state.status('docs')).toMatchObject({ pending: 1, total: 1 });

    state.apply(C, 0, [docRec(2, cleaned('d2', 'one'))]);
    expect(state.status('docs')).toMatchObject({ pending: 1, total: 2 }); // held, not counted

    state.apply(C, 0, [docRec(3, cleaned('d1', 'one, revised', { version: 2 }))]);
    expect(state.status('docs')).toMatchObject({ pending: 2, total: 2 });
    expect(texts(state.documentsAt('docs', LATEST))).toEqual([['d1', 'one, revised'], ['d2', 'one']]);

    // back to a text already counted: the document changes, the count does not
    state.apply(C, 0, [docRec(4, cleaned('d1', 'one', { version: 3 }))]);
    expect(state.status('docs')).toMatchObject({ pending: 2, total: 2 });
    expect(texts(state.documentsAt('docs', LATEST))).toEqual([['d1', 'one'], ['d2', 'one']]);
  });

  it('a changed title alone changes the document held but is not net-new content', () => {
    const { state } = open([contentDs()]);
    state.apply(C, 0, [docRec(0, cleaned('d1', 'one'))]);
    expect(state.apply(C, 0, [docRec(1, cleaned('d1', 'one', { version: 2, title: 'Better title' }))]).changed).toBe(true);
    expect(state.status('docs')).toMatchObject({ pending: 1, total: 1 });
    expect(state.documentsAt('docs', LATEST)[0]).toMatchObject({ title: 'Better title', version: 2 });
  });

  it('keeps only the dataset\'s documents: another category is ignored; a document that changes category leaves it', () => {
    const { state } = open([contentDs({ filter: { category: 'article' } })]);
    expect(state.apply(C, 0, [docRec(0, cleaned('p1', 'a post', { category: 'post' }))]).changed).toBe(false);
    expect(state.status('docs')).toMatchObject({ pending: 0, total: 0 });

    state.apply(C, 0, [docRec(1, cleaned('d1', 'an article'))]);
    expect(state.status('docs')).toMatchObject({ pending: 1, total: 1 });

    expect(state.apply(C, 0, [docRec(2, cleaned('d1', 'an article', { version: 2, category: 'post' }))]).changed).toBe(true);
    expect(state.status('docs')).toMatchObject({ pending: 1, total: 0 });
    expect(state.documentsAt('docs', LATEST)).toEqual([]);

    // and comes back when it is an article again
    state.apply(C, 0, [docRec(3, cleaned('d1', 'an article', { version: 3 }))]);
    expect(state.status('docs')).toMatchObject({ pending: 1, total: 1 });
    expect(state.documentsAt('docs', LATEST)).toMatchObject([{ docId: 'd1', version: 3, category: 'article' }]);
  });

  it('an author filter with a list means any of them', () => {
    const { state } = open([contentDs({ filter: { author: ['ann', 'bo'] } })]);
    state.apply(C, 0, [docRec(0, cleaned('d1', 'x1')), docRec(1, cleaned('d2', 'x2', { author: 'bo' })), docRec(2, cleaned('d3', 'x3', { author: 'cy' }))]);
    expect(state.documentsAt('docs', LATEST).map((d) => d.docId)).toEqual(['d1', 'd2']);
    expect(state.status('docs')).toMatchObject({ pending: 2, total: 2 });
  });

  it('holds what a training sample needs from the document', () => {
    const { state } = open([contentDs()]);
    const d = cleaned('d1', 'some text', { url: 'https://example.com/a', version: 7 });
    state.apply(C, 0, [docRec(0, d)]);
    expect(state.documentsAt('docs', LATEST)).toEqual([{ docId: 'd1', version: 7, category: 'article', author: 'ann', title: 'Title d1', url: 'https://example.com/a', text: 'some text', contentHash: d.contentHash }]);
    expect(state.snapshot('docs', LATEST).versions).toEqual([{ key: 'd1', version: 7 }]);
  });
});

describe('apply: deletions and stale versions', () => {
  it('a deletion removes the document once', () => {
    const { state } = open([contentDs()]);
    state.apply(C, 0, [docRec(0, cleaned('d1', 'one')), docRec(1, cleaned('d2', 'two'))]);
    expect(state.apply(C, 0, [delRec(2, 'd1', 1)]).changed).toBe(true);
    expect(state.status('docs')).toMatchObject({ pending: 2, total: 1 });
    expect(state.documentsAt('docs', LATEST).map((d) => d.docId)).toEqual(['d2']);
    // deleted again, or a document never held: nothing changes, the total never goes below what is held
    expect(state.apply(C, 0, [delRec(3, 'd1', 2), delRec(4, 'nope', 1)]).changed).toBe(false);
    expect(state.status('docs')).toMatchObject({ total: 1 });
  });

  it('a deletion without a version deletes whatever version is held', () => {
    const { state } = open([contentDs()]);
    state.apply(C, 0, [docRec(0, cleaned('d1', 'one', { version: 99 })), delRec(1, 'd1', null)]);
    expect(state.status('docs')).toMatchObject({ total: 0 });
  });

  it('an older version arriving after a newer one is stale: neither a deletion nor a document undoes the newer one', () => {
    const { state } = open([contentDs()]);
    state.apply(C, 0, [docRec(0, cleaned('d1', 'five', { version: 5 }))]);
    expect(state.apply(C, 0, [delRec(1, 'd1', 4)]).changed).toBe(false);
    expect(state.apply(C, 0, [docRec(2, cleaned('d1', 'three', { version: 3 }))]).changed).toBe(false);
    expect(state.status('docs')).toMatchObject({ pending: 1, total: 1 });
    expect(texts(state.documentsAt('docs', LATEST))).toEqual([['d1', 'five']]);
  });

  it('a version older than a deletion does not bring the document back', () => {
    const { state } = open([contentDs()]);
    state.apply(C, 0, [docRec(0, cleaned('d1', 'one', { version: 1 })), delRec(1, 'd1', 5), docRec(2, cleaned('d1', 'older', { version: 3 }))]);
    expect(state.status('docs')).toMatchObject({ pending: 1, total: 0 });
    expect(state.documentsAt('docs', LATEST)).toEqual([]);
    // a newer version after the deletion does
    state.apply(C, 0, [docRec(3, cleaned('d1', 'newer', { version: 6 }))]);
    expect(state.status('docs')).toMatchObject({ pending: 2, total: 1 });
  });
});

describe('apply: feedback', () => {
  const ev = (id: string, over: Partial<FeedbackEvent> = {}): FeedbackEvent => ({ id, rating: 'up', receivedAtMs: T0, ...over });

  it('counts each feedback event once by its id, in feedback datasets only', () => {
    const { state } = open([contentDs(), feedbackDs()]);
    expect(state.apply(F, 0, [fbRec(0, ev('f1'))]).changed).toBe(true);
    expect(state.apply(F, 0, [fbRec(1, ev('f1', { rating: 'down' }))]).changed).toBe(false); // the same event again (another offset)
    expect(state.status('prefs')).toMatchObject({ pending: 1, total: 1 });
    state.apply(F, 0, [fbRec(2, ev('f2'))]);
    expect(state.status('prefs')).toMatchObject({ pending: 2, total: 2 });
    expect(state.status('docs')).toMatchObject({ pending: 0, total: 0 });
    // and documents are not feedback
    state.apply(C, 0, docs(0, 1, 2));
    expect(state.status('prefs')).toMatchObject({ pending: 2, total: 2 });
    expect(state.status('docs')).toMatchObject({ pending: 2, total: 2 });
  });

  it('holds what a preference pair needs, not comments or tags', () => {
    const { state } = open([feedbackDs()]);
    state.apply(F, 0, [
      fbRec(0, ev('f1', { traceId: 'trace-0001', query: 'q?', answer: 'a', correction: 'b', rating: 2, comment: 'meh', tags: ['x'], receivedAtMs: T0 + 5 })),
      fbRec(1, ev('f2', { query: 'q?', rating: 'up' })),
    ]);
    expect(state.feedbackAt('prefs', LATEST)).toEqual([
      { id: 'f1', traceId: 'trace-0001', query: 'q?', answer: 'a', correction: 'b', rating: 2, receivedAtMs: T0 + 5 },
      { id: 'f2', query: 'q?', rating: 'up', receivedAtMs: T0 },
    ]);
  });
});

describe('fireIfDue', () => {
  it('opens exactly one window once due, resets pending and records the input offsets', () => {
    const { state } = open([contentDs()]);
    state.apply(C, 0, docs(0, 1, 2));
    expect(state.decisions().map((d) => d.decision)).toEqual([{ fire: false, reason: 'below-threshold' }]);
    expect(state.fireIfDue('docs')).toBeNull();

    clock = T0 + 100;
    state.apply(C, 0, docs(2, 3, 1));
    state.apply(C, 1, docs(0, 4, 1));
    expect(state.decisions()[0]!.decision).toEqual({ fire: false, reason: 'settling', retryAtMs: T0 + 1100 });
    clock = T0 + 1099;
    expect(state.fireIfDue('docs')).toBeNull();

    clock = T0 + 1100;
    const w = state.fireIfDue('docs')!;
    expect(w).toMatchObject({
      dataset: 'docs', trigger: 'threshold', requestId: null, openedAtMs: T0 + 1100, outcome: 'pending',
      datasetVersion: null, jobId: null, message: null, offsets: { [C]: { 0: 3, 1: 1 } }, attempts: 0, nextAttemptAtMs: 0,
    });
    expect(w.cutSeq).toBeGreaterThan(0);
    expect(state.documentsAt('docs', w.cutSeq)).toHaveLength(4);
    expect(state.status('docs')).toMatchObject({ pending: 0, total: 4 });

    expect(state.fireIfDue('docs')).toBeNull();
    expect(state.decisions()[0]!.decision).toEqual({ fire: false, reason: 'below-threshold' });
    expect(state.pendingWindows()).toEqual([w]);
    expect(state.lastWindow('docs')).toEqual(w);
    expect(state.window(w.id)).toEqual(w);
    expect(state.fireIfDue('nope')).toBeNull();
  });

  it('the crossing time is kept: a steady stream fires at the max-wait bound', () => {
    const { state } = open([contentDs({ threshold: 1, settleMs: 100 })]);
    // an item every 50 ms: never settled
    for (let i = 0; i < 59; i++) {
      clock = T0 + i * 50;
      state.apply(C, 0, docs(i, i, 1));
      expect(state.fireIfDue('docs')).toBeNull();
    }
    clock = T0 + 3000; // 30 × 100 ms after the crossing at T0
    state.apply(C, 0, docs(59, 59, 1));
    expect(state.decisions()[0]!.decision).toEqual({ fire: true, reason: 'max-wait' });
    expect(state.fireIfDue('docs')).not.toBeNull();
  });

  it('the cooldown holds a second window until it ends', () => {
    const { state } = open([contentDs({ cooldownMs: 60_000 })]);
    const w1 = crossAndFire(state, 0, 1);
    state.apply(C, 0, docs(3, 4, 3));
    clock += 5000;
    expect(state.decisions()[0]!.decision).toEqual({ fire: false, reason: 'cooldown', retryAtMs: w1.openedAtMs + 60_000 });
    expect(state.fireIfDue('docs')).toBeNull();
    clock = w1.openedAtMs + 60_000;
    const w2 = state.fireIfDue('docs');
    expect(w2).toMatchObject({ trigger: 'threshold' });
    expect(w2!.cutSeq).toBeGreaterThan(w1.cutSeq);
  });

  it('a dataset not gathered yet never fires', () => {
    const { state } = open([contentDs()], ':memory:', { backfill: false });
    expect(state.needsBackfill('docs')).toBe(true);
    expect(state.apply(C, 0, docs(0, 1, 5))).toEqual({ applied: 5, changed: false });
    clock += 10_000;
    expect(state.decisions()).toEqual([]);
    expect(state.fireIfDue('docs')).toBeNull();
  });
});

describe('snapshot', () => {
  it('is the dataset as of the window, even after later updates and deletions', () => {
    const { state } = open([contentDs()]);
    state.apply(C, 0, [docRec(0, cleaned('d1', 'one')), docRec(1, cleaned('d2', 'two')), docRec(2, cleaned('d3', 'three'))]);
    clock += 1000;
    const w = state.fireIfDue('docs')!;
    const before = state.snapshot('docs', w.cutSeq);

    state.apply(C, 0, [docRec(3, cleaned('d1', 'one, revised', { version: 2 })), delRec(4, 'd2', 1), docRec(5, cleaned('d4', 'four'))]);

    expect(state.snapshot('docs', w.cutSeq)).toEqual(before);
    expect(texts(state.documentsAt('docs', w.cutSeq))).toEqual([['d1', 'one'], ['d2', 'two'], ['d3', 'three']]);
    expect(state.snapshot('docs', w.cutSeq).versions).toEqual([{ key: 'd1', version: 1 }, { key: 'd2', version: 1 }, { key: 'd3', version: 1 }]);
    expect(texts(state.documentsAt('docs', LATEST))).toEqual([['d1', 'one, revised'], ['d3', 'three'], ['d4', 'four']]);

    // a later window (2 net-new items: below the threshold, so a manual one) holds the later changes
    state.apply(CMD, 0, [trigRec(0, 'req-1')]);
    const w2 = state.lastWindow('docs')!;
    expect(w2.cutSeq).toBeGreaterThan(w.cutSeq);
    expect(state.snapshot('docs', w2.cutSeq)).toEqual(state.snapshot('docs', LATEST));
  });

  it('one dataset\'s snapshot holds none of another\'s items', () => {
    const { state } = open([contentDs({ filter: { category: 'article' } }), contentDs({ name: 'posts', filter: { category: 'post' } })]);
    state.apply(C, 0, [docRec(0, cleaned('a1', 'article')), docRec(1, cleaned('p1', 'post', { category: 'post' }))]);
    expect(state.documentsAt('docs', LATEST).map((d) => d.docId)).toEqual(['a1']);
    expect(state.documentsAt('posts', LATEST).map((d) => d.docId)).toEqual(['p1']);
  });
});

describe('windows and jobs', () => {
  it('windowPinned records one job per (dataset, version) before any launch, and publishes it', () => {
    const { state } = open([contentDs()]);
    const w = crossAndFire(state, 0, 1);
    const job = state.windowPinned(w.id, { version: 'v1', items: 3, launcher: 'webhook' });
    expect(job).toEqual({
      id: 'docs-v1', dataset: 'docs', datasetVersion: 'v1', idempotencyKey: 'v1', rev: 0, items: 3, state: 'pending', launcher: 'webhook', externalId: null, model: null,
      error: null, attempts: 0, trigger: 'threshold', requestIds: [], createdAtMs: clock, updatedAtMs: clock, nextAttemptAtMs: 0,
    });
    expect(state.window(w.id)).toMatchObject({ outcome: 'job', datasetVersion: 'v1', jobId: 'docs-v1', message: null });
    expect(state.pendingWindows()).toEqual([]);
    expect(state.activeJobs()).toEqual([job]);
    const out = state.outbox(10);
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({ topic: Topics.finetuneJobs, key: 'docs-v1' });
    expect(finetuneJobSchema.parse(JSON.parse(out[0]!.value))).toMatchObject({ id: 'docs-v1', state: 'pending', createdAt: iso(clock), requestIds: [] });
    expect(state.status('docs')!.lastVersion).toBe('v1');

    // the same window pinned again (a crash before the pin was seen): the same job, nothing new published
    clock += 10;
    expect(state.windowPinned(w.id, { version: 'v1', items: 3, launcher: 'webhook' })).toEqual(job);
    expect(state.outbox(10)).toHaveLength(1);
  });

  it('a second window of the same version links to the same job without a new one', () => {
    const { state } = open([contentDs()]);
    const w1 = crossAndFire(state, 0, 1);
    const job = state.windowPinned(w1.id, { version: 'v1', items: 3, launcher: 'webhook' });
    const w2 = crossAndFire(state, 3, 4);
    expect(w2.id).not.toBe(w1.id);
    expect(state.windowPinned(w2.id, { version: 'v1', items: 3, launcher: 'webhook' })).toEqual(job);
    expect(state.jobs()).toEqual([job]);
    expect(state.window(w2.id)).toMatchObject({ outcome: 'job', jobId: 'docs-v1', datasetVersion: 'v1' });
    expect(state.outbox(10)).toHaveLength(1);

    // once the job is under way, a later window of its version says so
    state.updateJob(job.id, { state: 'launched', launched: true });
    const w3 = crossAndFire(state, 6, 7);
    state.windowPinned(w3.id, { version: 'v1', items: 3, launcher: 'webhook' });
    expect(state.window(w3.id)!.message).toMatch(/^version v1 already has job docs-v1 \(\w+\)$/);
    expect(state.jobs()).toHaveLength(1);

    // another version is another job
    const w4 = crossAndFire(state, 9, 10);
    expect(state.windowPinned(w4.id, { version: 'v2', items: 6, launcher: 'webhook' })).toMatchObject({ id: 'docs-v2', state: 'pending', items: 6 });
    expect(state.jobs().map((j) => j.id)).toEqual(['docs-v1', 'docs-v2']);
  });

  it('manual triggers of the same version merge their request ids into one job', () => {
    const { state } = open([contentDs()]);
    state.apply(C, 0, docs(0, 1, 1));
    state.apply(CMD, 0, [trigRec(0, 'req-1')]);
    const w1 = state.lastWindow('docs')!;
    const job = state.windowPinned(w1.id, { version: 'v1', items: 1, launcher: 'webhook' });
    expect(job).toMatchObject({ trigger: 'manual', requestIds: ['req-1'] });

    clock += 50;
    state.apply(CMD, 0, [trigRec(1, 'req-2')]);
    const w2 = state.lastWindow('docs')!;
    expect(w2.id).not.toBe(w1.id);
    const merged = state.windowPinned(w2.id, { version: 'v1', items: 1, launcher: 'webhook' });
    expect(merged).toMatchObject({ id: 'docs-v1', requestIds: ['req-1', 'req-2'], createdAtMs: job.createdAtMs, updatedAtMs: clock });
    expect(state.jobs()).toHaveLength(1);
    const out = state.outbox(10);
    expect(out).toHaveLength(2);
    expect(JSON.parse(out[1]!.value)).toMatchObject({ id: 'docs-v1', requestIds: ['req-1', 'req-2'] });

    // pinned again: the request id is not added twice
    state.windowPinned(w2.id, { version: 'v1', items: 1, launcher: 'webhook' });
    expect(state.job('docs-v1')!.requestIds).toEqual(['req-1', 'req-2']);
    expect(state.outbox(10)).toHaveLength(2);
  });

  it('windowEmpty, windowRetry and windowFailed', () => {
    const { state } = open([contentDs()]);
    const w1 = crossAndFire(state, 0, 1);
    state.windowRetry(w1.id, 'registry unreachable', clock + 500);
    expect(state.window(w1.id)).toMatchObject({ outcome: 'pending', attempts: 1, nextAttemptAtMs: clock + 500, message: 'registry unreachable' });
    state.windowRetry(w1.id, 'still unreachable', clock + 1500);
    expect(state.window(w1.id)).toMatchObject({ outcome: 'pending', attempts: 2, nextAttemptAtMs: clock + 1500 });
    state.windowEmpty(w1.id, 'no samples');
    expect(state.window(w1.id)).toMatchObject({ outcome: 'empty', message: 'no samples' });
    const w2 = crossAndFire(state, 3, 4);
    state.windowFailed(w2.id, 'gone');
    expect(state.window(w2.id)).toMatchObject({ outcome: 'failed', message: 'gone' });
    expect(state.pendingWindows()).toEqual([]);
    expect(state.jobs()).toEqual([]);
  });
});

describe('commands', () => {
  it('a manual trigger opens a window regardless of the threshold; the same requestId twice opens one', () => {
    const { state } = open([contentDs({ threshold: 100, cooldownMs: 3600_000 })]);
    state.apply(C, 0, docs(0, 1, 2));
    expect(state.apply(CMD, 0, [trigRec(0, 'req-1')])).toEqual({ applied: 1, changed: true });
    const w = state.lastWindow('docs')!;
    expect(w).toMatchObject({ trigger: 'manual', requestId: 'req-1', outcome: 'pending', openedAtMs: clock, offsets: { [C]: { 0: 2 } } });
    expect(state.documentsAt('docs', w.cutSeq)).toHaveLength(2);
    expect(state.status('docs')).toMatchObject({ pending: 0 });

    // the same request again (the API retried): one window
    expect(state.apply(CMD, 0, [trigRec(1, 'req-1')])).toEqual({ applied: 1, changed: false });
    expect(state.pendingWindows()).toHaveLength(1);
    // a new request inside the cooldown: a manual trigger does not wait for it
    expect(state.apply(CMD, 0, [trigRec(2, 'req-2')]).changed).toBe(true);
    expect(state.pendingWindows().map((x) => x.requestId)).toEqual(['req-1', 'req-2']);
    // a dataset not configured: nothing
    expect(state.apply(CMD, 0, [trigRec(3, 'req-3', 'unknown')]).changed).toBe(false);
    expect(state.pendingWindows()).toHaveLength(2);
    expect(state.position(CMD, 0)).toBe(4);
  });

  it('a manual trigger on an empty dataset opens a window with nothing in it', () => {
    const { state } = open([contentDs()]);
    state.apply(CMD, 0, [trigRec(0, 'req-1')]);
    const w = state.lastWindow('docs')!;
    expect(w.cutSeq).toBe(0);
    expect(state.snapshot('docs', w.cutSeq)).toEqual({ items: [], versions: [] });
  });

  it('job-status updates a job, but never a final one', () => {
    const { state } = open([contentDs()]);
    const w = crossAndFire(state, 0, 1);
    state.windowPinned(w.id, { version: 'v1', items: 3, launcher: 'webhook' });
    const status = (offset: number, s: 'running' | 'succeeded' | 'failed' | 'cancelled', extra: Record<string, string> = {}, jobId = 'docs-v1'): InputRecord =>
      ({ kind: 'job-status', offset, requestId: `s-${offset}`, jobId, state: s, ...extra });

    // a report on a job not launched yet is left alone (a receiver cannot start what was never sent)
    expect(state.apply(CMD, 0, [{ ...status(0, 'running'), offset: 0 }]).changed).toBe(false);
    expect(state.job('docs-v1')!.state).toBe('pending');
    state.updateJob('docs-v1', { state: 'launched' });
    state.ackOutbox(state.outbox(10).at(-1)!.seq);
    expect(state.apply(CMD, 1, [status(0, 'running', { externalId: 'ext-1' })]).changed).toBe(true);
    expect(state.job('docs-v1')).toMatchObject({ state: 'running', externalId: 'ext-1', model: null });
    expect(state.apply(CMD, 1, [status(1, 'succeeded', { model: 'ft:base:docs-v1' })]).changed).toBe(true);
    expect(state.job('docs-v1')).toMatchObject({ state: 'succeeded', externalId: 'ext-1', model: 'ft:base:docs-v1', error: null });

    expect(state.apply(CMD, 1, [status(2, 'failed', { error: 'too late' }), status(3, 'cancelled'), status(4, 'running')]).changed).toBe(false);
    expect(state.job('docs-v1')).toMatchObject({ state: 'succeeded', model: 'ft:base:docs-v1', error: null });
    expect(state.apply(CMD, 1, [status(5, 'running', {}, 'docs-nope')]).changed).toBe(false);
    expect(state.position(CMD, 1)).toBe(6);
    expect(state.outbox(10).map((r) => (JSON.parse(r.value) as { state: string }).state)).toEqual(['running', 'succeeded']);
    expect(state.activeJobs()).toEqual([]);
  });

  it('a writer that read an older revision does not overwrite a newer state, and a final job never changes', () => {
    const { state } = open([contentDs()]);
    const w = crossAndFire(state, 0, 1);
    const job = state.windowPinned(w.id, { version: 'v1', items: 3, launcher: 'webhook' });
    const launching = state.updateJob(job.id, { state: 'launching', attempt: true }, { ifRev: job.rev })!;
    expect(launching.rev).toBe(job.rev + 1);
    expect(state.updateJob(job.id, { state: 'launched' }, { ifRev: job.rev })).toBeNull(); // stale
    state.updateJob(job.id, { state: 'running' }, { ifRev: launching.rev });
    state.updateJob(job.id, { state: 'succeeded', model: 'm1' });
    expect(state.updateJob(job.id, { state: 'running', model: null })).toBeNull();
    expect(state.job(job.id)).toMatchObject({ state: 'succeeded', model: 'm1' });
  });

  it('a manual trigger of a version whose job failed is a retry under a new key; of one whose job succeeded, that job', () => {
    const { state } = open([contentDs()]);
    const w1 = crossAndFire(state, 0, 1);
    const first = state.windowPinned(w1.id, { version: 'v1', items: 3, launcher: 'webhook' });
    state.updateJob(first.id, { state: 'failed', error: 'LAUNCH_REJECTED: 422' });
    // the threshold opening a window on the same bytes gets the failed job back (no retry without a person)
    const again = crossAndFire(state, 3, 4);
    expect(state.windowPinned(again.id, { version: 'v1', items: 3, launcher: 'webhook' }).id).toBe(first.id);
    state.apply(CMD, 0, [{ kind: 'trigger', offset: 0, requestId: 'r-1', dataset: 'docs', atMs: clock }]);
    const manual = state.pendingWindows().at(-1)!;
    const retry = state.windowPinned(manual.id, { version: 'v1', items: 3, launcher: 'webhook' });
    expect(retry).toMatchObject({ id: 'docs-v1-r2', idempotencyKey: 'v1-r2', datasetVersion: 'v1', state: 'pending', trigger: 'manual', requestIds: ['r-1'] });
    expect(state.window(manual.id)!.message).toMatch(/job docs-v1 failed: retried as job docs-v1-r2/);
    state.updateJob(retry.id, { state: 'succeeded', model: 'm' });
    state.apply(CMD, 0, [{ kind: 'trigger', offset: 1, requestId: 'r-2', dataset: 'docs', atMs: clock }]);
    const later = state.pendingWindows().at(-1)!;
    expect(state.windowPinned(later.id, { version: 'v1', items: 3, launcher: 'webhook' })).toMatchObject({ id: 'docs-v1-r2', requestIds: ['r-1', 'r-2'] });
    expect(state.jobs().map((j) => j.id)).toEqual(['docs-v1', 'docs-v1-r2']);
  });
});

describe('updateJob', () => {
  it('writes an outbox record only on a visible change', () => {
    const { state } = open([contentDs()]);
    const w = crossAndFire(state, 0, 1);
    state.windowPinned(w.id, { version: 'v1', items: 3, launcher: 'webhook' });
    state.ackOutbox(state.outbox(10).at(-1)!.seq);
    expect(state.outbox(10)).toEqual([]);
    const states = () => state.outbox(100).map((r) => finetuneJobSchema.parse(JSON.parse(r.value)));

    clock += 10;
    expect(state.updateJob('docs-v1', { nextAttemptAtMs: clock + 5000 })).toMatchObject({ nextAttemptAtMs: clock + 5000, updatedAtMs: clock });
    expect(state.job('docs-v1')).toMatchObject({ nextAttemptAtMs: clock + 5000, updatedAtMs: clock });
    expect(states()).toEqual([]);

    state.updateJob('docs-v1', { state: 'launching', attempt: true });
    expect(states()).toMatchObject([{ state: 'launching', attempts: 1, updatedAt: iso(clock) }]);
    state.updateJob('docs-v1', { state: 'launching' });
    state.updateJob('docs-v1', { externalId: null }); // null is the value held: no change
    expect(states()).toHaveLength(1);

    state.updateJob('docs-v1', { error: 'HTTP 503' });
    state.updateJob('docs-v1', { attempt: true });
    state.updateJob('docs-v1', { state: 'launched', externalId: 'ext-9', error: null, launched: true });
    state.updateJob('docs-v1', { state: 'running' });
    state.updateJob('docs-v1', { model: 'ft:m' });
    expect(states().map((j) => [j.state, j.attempts, j.error, j.externalId, j.model])).toEqual([
      ['launching', 1, null, null, null],
      ['launching', 1, 'HTTP 503', null, null],
      ['launching', 2, 'HTTP 503', null, null],
      ['launched', 2, null, 'ext-9', null],
      ['running', 2, null, 'ext-9', null],
      ['running', 2, null, 'ext-9', 'ft:m'],
    ]);
    expect(state.status('docs')!.lastLaunchAt).toBe(iso(clock));

    // acked records are gone; later ones keep their order
    const out = state.outbox(100);
    state.ackOutbox(out[2]!.seq);
    expect(state.outbox(100).map((r) => r.seq)).toEqual(out.slice(3).map((r) => r.seq));
    expect(state.outbox(2)).toHaveLength(2);
  });
});

describe('prune', () => {
  it('keeps what a pending window needs, then drops superseded versions once every window is pinned (a deletion\'s own row stays)', () => {
    const { db, state } = open([contentDs()]);
    state.apply(C, 0, [docRec(0, cleaned('d1', 'one')), docRec(1, cleaned('d2', 'two')), docRec(2, cleaned('d3', 'three'))]);
    clock += 1000;
    const w = state.fireIfDue('docs')!;
    state.apply(C, 0, [docRec(3, cleaned('d1', 'one, revised', { version: 2 })), delRec(4, 'd2', 1)]);
    const atWindow = state.snapshot('docs', w.cutSeq);
    const latest = state.snapshot('docs', LATEST);
    expect(itemRows(db, 'docs')).toBe(5);

    state.prune('docs'); // the window is not pinned yet: nothing goes
    expect(itemRows(db, 'docs')).toBe(5);
    expect(state.snapshot('docs', w.cutSeq)).toEqual(atWindow);

    state.windowPinned(w.id, { version: 'v1', items: 3, launcher: 'webhook' });
    state.prune('docs');
    expect(itemRows(db, 'docs')).toBe(3); // d1 v2, d3, and d2's deletion (the version it was deleted at)
    expect(state.snapshot('docs', LATEST)).toEqual(latest);
    expect(state.status('docs')).toMatchObject({ total: 2 });

    // what is kept still guards against re-counting and stale versions
    expect(state.apply(C, 0, [docRec(5, cleaned('d1', 'one, revised', { version: 2 })), docRec(6, cleaned('d1', 'one', { version: 1 }))]).changed).toBe(false);
    expect(texts(state.documentsAt('docs', LATEST))).toEqual([['d1', 'one, revised'], ['d3', 'three']]);
  });

  it('looks only at the dataset\'s own windows and rows', () => {
    const { db, state } = open([contentDs(), contentDs({ name: 'all', threshold: 1000 })]);
    state.apply(C, 0, [docRec(0, cleaned('d1', 'one')), docRec(1, cleaned('d2', 'two')), docRec(2, cleaned('d3', 'three'))]);
    clock += 1000;
    state.fireIfDue('docs');
    state.apply(C, 0, [docRec(3, cleaned('d1', 'one, revised', { version: 2 }))]);
    state.prune('docs');
    expect(itemRows(db, 'docs')).toBe(4);
    state.prune('all'); // no window of its own: its superseded row goes
    expect(itemRows(db, 'all')).toBe(3);
    expect(itemRows(db, 'docs')).toBe(4);
  });

  // prune keeps the latest row of a deleted document: it is the only record of the version the
  // deletion happened at, which an older version arriving later must lose to
  it('a version older than a deletion does not bring the document back after a prune', () => {
    const { state } = open([contentDs()]);
    state.apply(C, 0, [docRec(0, cleaned('d1', 'one', { version: 1 })), docRec(1, cleaned('d2', 'two')), docRec(2, cleaned('d3', 'three'))]);
    clock += 1000;
    const w = state.fireIfDue('docs')!;
    state.windowPinned(w.id, { version: 'v1', items: 3, launcher: 'webhook' });
    state.apply(C, 0, [delRec(3, 'd1', 5)]);
    state.prune('docs');
    state.apply(C, 0, [docRec(4, cleaned('d1', 'one, older', { version: 3 }))]);
    expect(state.documentsAt('docs', LATEST).map((d) => d.docId)).toEqual(['d2', 'd3']);
    expect(state.status('docs')).toMatchObject({ total: 2 });
  });
});

describe('register', () => {
  it('on a reopened database keeps the counts and says nothing is new', () => {
    const path = join(dir, 'finetune', 'state.db');
    const first = open([contentDs()], path, { backfill: false });
    expect(first.registered).toEqual(['docs']);
    expect(first.state.needsBackfill('docs')).toBe(true);
    first.state.markBackfilled('docs');
    expect(first.state.needsBackfill('docs')).toBe(false);
    const w = crossAndFire(first.state, 0, 1, 4);
    first.state.apply(C, 0, docs(4, 5, 1));
    first.db.close();

    const again = open([contentDs()], path);
    expect(again.registered).toEqual([]);
    expect(again.state.needsBackfill('docs')).toBe(false);
    expect(again.state.status('docs')).toMatchObject({ pending: 1, total: 5 });
    expect(again.state.position(C, 0)).toBe(5);
    expect(again.state.lastWindow('docs')).toEqual(w);
    // the content already counted is remembered
    expect(again.state.apply(C, 0, [docRec(5, cleaned('d9', 'text of d1'))]).changed).toBe(true);
    expect(again.state.status('docs')).toMatchObject({ pending: 1, total: 6 });
    again.db.close();

    // a threshold, cooldown or launcher change is the same dataset
    const tuned = open([contentDs({ threshold: 50, cooldownMs: 1000, launcher: { type: 'command', command: ['true'] } })], path);
    expect(tuned.registered).toEqual([]);
    expect(tuned.state.status('docs')).toMatchObject({ pending: 1, total: 6, threshold: 50 });
  });

  it('a dataset registered but never gathered (a crash during its backfill) is new again', () => {
    const path = join(dir, 'state.db');
    open([contentDs()], path, { backfill: false }).db.close();
    expect(open([contentDs()], path).registered).toEqual(['docs']);
  });

  it('a changed filter resets the dataset\'s items and counts; its windows and jobs stay, as history', () => {
    const path = join(dir, 'state.db');
    const first = open([contentDs()], path);
    const w = crossAndFire(first.state, 0, 1);
    first.state.windowPinned(w.id, { version: 'v1', items: 3, launcher: 'webhook' });
    first.state.apply(C, 0, [docRec(3, cleaned('p1', 'a post', { category: 'post' }))]);
    expect(first.state.status('docs')).toMatchObject({ pending: 1, total: 4 });
    first.db.close();

    const changed = open([contentDs({ filter: { category: 'post' } })], path, { backfill: false });
    expect(changed.registered).toEqual(['docs']);
    expect(changed.state.needsBackfill('docs')).toBe(true);
    expect(changed.state.status('docs')).toMatchObject({ pending: 0, total: 0, lastVersion: 'v1' });
    expect(changed.state.documentsAt('docs', LATEST)).toEqual([]);
    expect(changed.state.lastWindow('docs')).toMatchObject({ id: w.id, jobId: 'docs-v1' });
    expect(changed.state.jobs().map((j) => j.id)).toEqual(['docs-v1']);
    expect(changed.state.position(C, 0)).toBe(4);

    // gathered again from the start of the topic, up to the shared position; the hashes counted before do not hold
    const fromStart = [...docs(0, 1, 3), docRec(3, cleaned('p1', 'a post', { category: 'post' })), docRec(4, cleaned('p2', 'later post', { category: 'post' }))];
    changed.state.applyBackfill('docs', C, 0, fromStart);
    changed.state.markBackfilled('docs');
    expect(changed.state.documentsAt('docs', LATEST).map((d) => d.docId)).toEqual(['p1']);
    expect(changed.state.status('docs')).toMatchObject({ pending: 1, total: 1 });
    changed.state.apply(C, 0, fromStart.slice(3));
    expect(changed.state.status('docs')).toMatchObject({ pending: 2, total: 2 });
  });
});

describe('status and its dirty flag', () => {
  it('dirty when a dataset\'s status changed; clearDirty and markDirty', () => {
    const { state } = open([contentDs(), feedbackDs()]);
    expect(state.dirtyDatasets().sort()).toEqual(['docs', 'prefs']);
    state.clearDirty(['docs', 'prefs']);
    expect(state.dirtyDatasets()).toEqual([]);

    state.apply(C, 0, [docRec(0, cleaned('d1', 'one'))]);
    expect(state.dirtyDatasets()).toEqual(['docs']);
    state.clearDirty(['docs']);
    state.apply(C, 0, [docRec(1, cleaned('d1', 'one'))]); // nothing new
    expect(state.dirtyDatasets()).toEqual([]);

    state.apply(F, 0, [fbRec(0, { id: 'f1', rating: 'up', receivedAtMs: T0 })]);
    expect(state.dirtyDatasets()).toEqual(['prefs']);
    state.clearDirty(['prefs']);

    state.markDirty(['docs']);
    expect(state.dirtyDatasets()).toEqual(['docs']);
    state.clearDirty(['docs']);

    state.apply(C, 0, docs(2, 2, 2));
    state.clearDirty(['docs']);
    clock += 1000;
    const w = state.fireIfDue('docs')!;
    expect(state.dirtyDatasets()).toEqual(['docs']);
    state.clearDirty(['docs']);
    const job = state.windowPinned(w.id, { version: 'v1', items: 3, launcher: 'webhook' });
    expect(state.dirtyDatasets()).toEqual(['docs']);
    state.clearDirty(['docs']);
    state.updateJob(job.id, { state: 'launched', launched: true });
    expect(state.dirtyDatasets()).toEqual(['docs']);
    state.clearDirty(['docs']);
    state.apply(C, 0, [delRec(4, 'd1', 1)]);
    expect(state.dirtyDatasets()).toEqual(['docs']);
  });

  it('a dataset no longer configured is neither dirty nor given a status', () => {
    const path = join(dir, 'state.db');
    open([contentDs(), feedbackDs()], path).db.close();
    const { state } = open([contentDs()], path);
    expect(state.dirtyDatasets()).toEqual(['docs']);
    expect(state.status('prefs')).toBeNull();
  });

  it('status(): the fields as published', () => {
    const { state } = open([contentDs({ cooldownMs: 5000 }), feedbackDs()]);
    expect(state.status('docs')).toEqual({
      name: 'docs', source: 'content', format: 'chat-sft', pending: 0, threshold: 3, cooldownMs: 5000, total: 0,
      lastVersion: null, lastLaunchAt: null, lastWindow: null, updatedAt: iso(T0),
    });
    expect(state.status('prefs')).toMatchObject({ name: 'prefs', source: 'feedback', format: 'dpo', threshold: 2 });
    expect(state.status('nope')).toBeNull();

    const w = crossAndFire(state, 0, 1);
    expect(state.status('docs')!.lastWindow).toEqual({
      trigger: 'threshold', requestId: null, openedAt: iso(w.openedAtMs), outcome: 'pending', datasetVersion: null, jobId: null, message: null,
    });
    clock += 100;
    const job = state.windowPinned(w.id, { version: 'v1', items: 3, launcher: 'webhook' });
    clock += 100;
    state.updateJob(job.id, { state: 'launched', launched: true });
    state.apply(C, 0, docs(3, 4, 1));
    clock += 100;
    const s = state.status('docs')!;
    expect(s).toEqual({
      name: 'docs', source: 'content', format: 'chat-sft', pending: 1, threshold: 3, cooldownMs: 5000, total: 4,
      lastVersion: 'v1', lastLaunchAt: iso(clock - 100),
      lastWindow: { trigger: 'threshold', requestId: null, openedAt: iso(w.openedAtMs), outcome: 'job', datasetVersion: 'v1', jobId: 'docs-v1', message: null },
      updatedAt: iso(clock),
    });
    expect(finetuneDatasetStatusSchema.parse(s)).toEqual(s);
  });
});

describe('instruction cache', () => {
  it('keeps the first instruction saved under a key', () => {
    const { state } = open([contentDs()]);
    expect(state.instruction('k1')).toBeNull();
    state.saveInstruction('k1', 'Write about rivers.');
    state.saveInstruction('k1', 'Something else.');
    expect(state.instruction('k1')).toBe('Write about rivers.');
    expect(state.instruction('k2')).toBeNull();
  });
});
