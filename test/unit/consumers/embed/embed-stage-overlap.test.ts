import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HashingEmbedder } from '../../../../adapters/embedder/hashing/hashing-embedder.ts';
import { JsonValueCodec } from '../../../../adapters/value-codec/json/json-codec.ts';
import { createEmbeddedVectorIndex, type EmbeddedVectorIndex } from '../../../../adapters/vector-index/embedded/index.ts';
import { EmbedStage } from '../../../../consumers/embed/embed-stage.ts';
import { Metrics } from '../../../../observability/metrics.ts';
import type { EmbedOptions, Embedder } from '../../../../ports/embedder.ts';
import { TributaryError } from '../../../../ports/errors.ts';
import type { LogRecord } from '../../../../ports/event-log.ts';
import type { ApplyOutcome, IndexOperation, VectorIndex } from '../../../../ports/vector-index.ts';
import type { CleanedDocument } from '../../../../schemas/cleaned.ts';
import { DOC_VERSION_HEADER, Topics } from '../../../../schemas/topics.ts';

/**
 * With `overlapChunks` (an index across the network), the embed stage embeds the next group of a
 * batch while the previous group's index write is in flight; every document still lands, and a write
 * that fails for the whole batch still fails the batch (the runtime holds it).
 */

const DIM = 32;
const json = new JsonValueCodec();
const doc = (docId: string): CleanedDocument => ({
  docId, version: 3, category: 'post', author: 'ada', title: null, url: null, text: `The text of ${docId}, a short post about partitions.`,
  contentHash: 'c'.repeat(64), sourceTsMs: 1, cleanedAtMs: 2,
});
const record = async (docId: string, offset: number): Promise<LogRecord> => ({
  topic: Topics.cleaned, partition: 0, offset, key: docId, value: await json.encode(Topics.cleaned, doc(docId)), headers: { [DOC_VERSION_HEADER]: '3' }, timestamp: 1,
});

/** Events in order: which group's embedding started, which write started and finished. */
type Event = string;

class SlowIndex implements Pick<VectorIndex, 'applyBatch'> {
  writes = 0;
  failWith: TributaryError | null = null;
  private readonly inner: EmbeddedVectorIndex;
  private readonly events: Event[];
  constructor(inner: EmbeddedVectorIndex, events: Event[]) {
    this.inner = inner;
    this.events = events;
  }
  async applyBatch(ops: IndexOperation[]): Promise<ApplyOutcome[]> {
    const n = ++this.writes;
    this.events.push(`write ${n} start`);
    await new Promise((r) => setTimeout(r, 30));
    if (this.failWith) throw this.failWith;
    const out = await this.inner.applyBatch(ops);
    this.events.push(`write ${n} end`);
    return out;
  }
}

describe('embed stage: overlapping embedding with index writes', () => {
  let dir: string;
  let inner: EmbeddedVectorIndex;
  let events: Event[];
  let index: SlowIndex;
  let stage: EmbedStage;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tributary-overlap-'));
    inner = createEmbeddedVectorIndex({ path: join(dir, 'index.db'), dimension: DIM, synchronous: 'normal' });
    await inner.init();
    events = [];
    index = new SlowIndex(inner, events);
    const hashing = new HashingEmbedder({ dimension: DIM });
    let calls = 0;
    const embedder: Embedder = {
      id: hashing.id, capabilities: hashing.capabilities, close: async () => {},
      embed: (texts: string[], signal?: AbortSignal, _o?: EmbedOptions) => { events.push(`embed ${++calls}`); return hashing.embed(texts, signal); },
    };
    // the stage reads versions through the real index and writes through the slow one
    const proxy = new Proxy(inner, { get: (t, p) => (p === 'applyBatch' ? index.applyBatch.bind(index) : p === 'kind' ? 'remote' : Reflect.get(t, p)) }) as unknown as VectorIndex;
    stage = new EmbedStage({
      embedder, cache: { kind: 'none', getMany: async () => new Map(), putMany: async () => {}, prune: async () => {}, close: async () => {} },
      index: proxy, metrics: new Metrics(), codec: json, chunking: { maxTokens: 64, overlapTokens: 8 }, overlapChunks: 2,
    });
  });
  afterEach(async () => {
    await inner.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the next group is embedded while the previous write is in flight, and every document lands', async () => {
    const records = await Promise.all(['a', 'b', 'c', 'd', 'e', 'f'].map((id, i) => record(id, i)));
    const failures = await stage.process(records, new AbortController().signal);
    expect(failures).toEqual([]);
    // one chunk per document, two per group: three groups, three writes
    expect(index.writes).toBe(3);
    expect(events.indexOf('embed 2')).toBeGreaterThan(events.indexOf('write 1 start'));
    expect(events.indexOf('embed 2')).toBeLessThan(events.indexOf('write 1 end'));
    expect(events.indexOf('write 2 start')).toBeGreaterThan(events.indexOf('write 1 end')); // writes stay in order, one at a time
    const versions = await inner.documentVersions(['a', 'b', 'c', 'd', 'e', 'f']);
    expect([...versions.values()].map((v) => v.version)).toEqual([3, 3, 3, 3, 3, 3]);
  });

  it('a write failing for the whole batch fails the batch (held by the runtime), not single records', async () => {
    index.failWith = new TributaryError('INDEX_UNAVAILABLE', 'index down');
    const records = await Promise.all(['a', 'b', 'c', 'd'].map((id, i) => record(id, i)));
    await expect(stage.process(records, new AbortController().signal)).rejects.toMatchObject({ code: 'INDEX_UNAVAILABLE' });
  });
});
