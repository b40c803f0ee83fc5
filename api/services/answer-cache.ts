import { createHash } from 'node:crypto';
import type { VectorIndex } from '../../ports/vector-index.ts';
import type { PromptSet } from '../../streams/prompts/catalogue.ts';
import type { RagRequest, RagResult } from './rag.ts';

/**
 * The answer cache: a repeated question gets the answer it got before, without a RAG run, for as
 * long as nothing it was answered from has changed. Exact match on the normalised question (case,
 * spacing and a trailing "?" or "." do not matter), the filters, the search mode, every option that
 * changes the answer, the model and the prompt's version.
 *
 * An entry records the version of every source document it was answered from (as the index applied
 * it). Before an entry is served, those versions are read again: a document updated or deleted since
 * — the index applies every change the pipeline sees — drops the entry, and the question is answered
 * afresh from the new text. Entries also expire after the TTL, and the least recently used go first
 * when the cache is full. One cache per API process (in memory).
 */


export interface CacheHit {
  result: RagResult;
  ageMs: number;
}

interface Entry {
  result: RagResult;
  versions: Array<[string, number | null]>;
  storedAtMs: number;
}

export type CacheOutcome = 'hit' | 'miss' | 'stale' | 'expired';

export function normaliseQuestion(q: string): string {
  return q.normalize('NFKC').toLowerCase().replace(/\s+/g, ' ').trim().replace(/[?.!\s]+$/u, '');
}

export class AnswerCache {
  private readonly entries = new Map<string, Entry>();
  private readonly ttlMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;
  /** The versions of the prompts an answer is written with: a changed prompt is a new answer. */
  private readonly promptVersions: string[];

  constructor(options: { ttlMs: number; maxEntries: number; prompts: Pick<PromptSet, 'answer' | 'expansion' | 'rerank' | 'selfQuery'>; now?: () => number }) {
    const p = options.prompts;
    this.promptVersions = [p.answer, p.expansion, p.rerank, p.selfQuery].map((t) => `${t.id}@${t.version}`);
    this.ttlMs = options.ttlMs;
    this.maxEntries = options.maxEntries;
    this.now = options.now ?? Date.now;
  }

  get enabled(): boolean { return this.ttlMs > 0; }
  get size(): number { return this.entries.size; }

  key(req: RagRequest, model: string | null): string {
    const filter = req.filter ? Object.fromEntries(Object.entries(req.filter).sort(([a], [b]) => (a < b ? -1 : 1))) : null;
    return createHash('sha256').update(JSON.stringify([
      this.promptVersions, normaliseQuestion(req.query), filter, req.mode ?? 'hybrid', req.k, req.expand, req.selfQuery, req.rerank, model ?? 'extractive',
    ])).digest('hex');
  }

  /** The cached answer, if it is still what the index would answer from; `outcome` says why not. */
  async get(key: string, index: Pick<VectorIndex, 'documentVersions'>): Promise<{ hit: CacheHit | null; outcome: CacheOutcome }> {
    const e = this.entries.get(key);
    if (!e) return { hit: null, outcome: 'miss' };
    const age = this.now() - e.storedAtMs;
    if (age >= this.ttlMs) {
      this.entries.delete(key);
      return { hit: null, outcome: 'expired' };
    }
    const now = await index.documentVersions(e.versions.map(([id]) => id));
    const changed = e.versions.some(([id, v]) => {
      const cur = now.get(id);
      return !cur || cur.deleted || cur.version !== v;
    });
    if (changed) {
      this.entries.delete(key);
      return { hit: null, outcome: 'stale' };
    }
    // most recently used last
    this.entries.delete(key);
    this.entries.set(key, e);
    return { hit: { result: e.result, ageMs: age }, outcome: 'hit' };
  }

  /** Remembers an answer with the versions of the documents it was answered from. */
  async put(key: string, result: RagResult, index: Pick<VectorIndex, 'documentVersions'>): Promise<void> {
    if (!this.enabled) return;
    const ids = [...new Set(result.sources.map((s) => s.docId))];
    // "nothing found" is not kept: the next document published may answer it
    if (ids.length === 0) return;
    const versions = await index.documentVersions(ids);
    // a source whose version the index cannot say is not a safe thing to cache on
    if (ids.some((id) => versions.get(id) === undefined || versions.get(id)!.deleted)) return;
    this.entries.delete(key);
    this.entries.set(key, { result, versions: ids.map((id) => [id, versions.get(id)!.version]), storedAtMs: this.now() });
    while (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
  }
}
