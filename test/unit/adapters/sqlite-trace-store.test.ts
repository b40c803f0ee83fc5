import { describe, expect, it } from 'vitest';
import { openDatabase } from '../../../adapters/sqlite/open-database.ts';
import { SqliteTraceStore } from '../../../adapters/trace-store/sqlite/sqlite-trace-store.ts';
import type { Judgement } from '../../../schemas/judgement.ts';
import type { RagTrace } from '../../../schemas/trace.ts';

// The trace view: traces, the feedback and the judge's verdicts that name them, joined by traceId;
// the positions it read up to; pruned to what the topics keep.

const DAY = 86_400_000;
const trace = (id: string, atMs: number): RagTrace => ({
  traceId: id, at: new Date(atMs).toISOString(), query: `q ${id}`, mode: 'hybrid', filter: null, selfQuery: { status: 'skipped', reason: 'x' }, expandedQueries: [`q ${id}`],
  retrieved: [], reranked: null, sources: [{ docId: 'd', chunkIndex: 0, score: 1, text: 'source text' }], prompt: { templateId: 'rag-answer', templateVersion: 1, tokens: null, text: null },
  answer: 'a', answerMode: 'extractive', citations: null, model: null, latencyMs: { selfQuery: 0, expansion: 0, search: 1, rerank: 0, answer: 0, total: 1 }, tokens: null, cache: { hit: false },
});
const verdict = (id: string, origin: Judgement['origin'], g: number): Judgement => ({
  traceId: id, at: new Date().toISOString(), origin, status: 'judged', error: null, model: 'm', prompt: { templateId: 'rag-judge', templateVersion: 1 }, latencyMs: 5,
  scores: { groundedness: { score: g, reason: 'r' }, answerRelevance: { score: 3, reason: 'r' }, contextRelevance: { score: 3, reason: 'r' } },
});

describe('SqliteTraceStore', () => {
  it('joins feedback and the latest verdict to their trace, lists newest first, and remembers how far it read', () => {
    const store = new SqliteTraceStore({ db: openDatabase({ path: ':memory:', synchronous: 'normal' }) });
    const now = Date.now();
    store.apply({ traces: [trace('t1', now - 2000), trace('t2', now - 1000)], feedback: [], positions: [{ topic: 'tr', partition: 0, next: 2 }] });
    store.apply({ traces: [], feedback: [{ id: 'f1', traceId: 't1', rating: 'down', receivedAtMs: now }], judgements: [verdict('t1', 'online', 2)], positions: [{ topic: 'tr', partition: 0, next: 1 }] });
    store.apply({ traces: [], feedback: [], judgements: [verdict('t1', 'offline', 5)], positions: [] });
    expect(store.position('tr', 0)).toBe(2); // never moves back
    expect(store.list({ limit: 10 }).map((t) => [t.trace.traceId, t.judgement?.scores?.groundedness.score ?? null])).toEqual([['t2', null], ['t1', 5]]);
    const one = store.get('t1')!;
    expect(one.feedback.map((f) => f.id)).toEqual(['f1']);
    expect(one.judgement).toMatchObject({ origin: 'offline' });
    expect(one.trace.sources[0]!.text).toBe('source text');
    expect(store.get('nope')).toBeNull();
  });

  it('prunes traces older than the topics keep, with their feedback and verdicts', () => {
    const store = new SqliteTraceStore({ db: openDatabase({ path: ':memory:', synchronous: 'normal' }) });
    const now = Date.now();
    store.apply({
      traces: [trace('old', now - 31 * DAY), trace('new', now)],
      feedback: [{ id: 'f-old', traceId: 'old', rating: 'up', receivedAtMs: now }],
      judgements: [verdict('old', 'online', 4), verdict('new', 'online', 4)], positions: [],
    });
    expect(store.prune(now - 30 * DAY)).toBe(1);
    expect(store.get('old')).toBeNull();
    expect(store.list({ limit: 10 }).map((t) => t.trace.traceId)).toEqual(['new']);
    expect(store.get('new')!.judgement).not.toBeNull();
  });
});
