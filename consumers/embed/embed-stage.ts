import type { Embedder, EmbeddingCache } from '../../ports/embedder.ts';
import { TributaryError, failureScope } from '../../ports/errors.ts';
import type { LogRecord } from '../../ports/event-log.ts';
import type { ValueCodec } from '../../ports/value-codec.ts';
import type { ApplyOutcome, IndexOperation, VectorIndex } from '../../ports/vector-index.ts';
import type { CleanedDocument } from '../../schemas/cleaned.ts';
import { DOC_VERSION_HEADER, Topics } from '../../schemas/topics.ts';
import { chunkDocument } from '../../streams/chunk/index.ts';
import { buildPoints, contentHash, contextualText, latestPerDocument } from '../../streams/embed/points.ts';
import { SpanNames, type Metrics } from '../../observability/metrics.ts';
import { SpanAttributes, withSpan } from '../../observability/tracing.ts';
import { recordFailure, type RecordFailure, type Stage } from '../runtime/stage-consumer.ts';

type Parsed =
  | { kind: 'upsert'; docId: string; version: number; offset: number; record: LogRecord; doc: CleanedDocument }
  | { kind: 'delete'; docId: string; version: number | null; offset: number; record: LogRecord };

interface Plan {
  p: Extract<Parsed, { kind: 'upsert' }>;
  chunks: Array<{ index: number; text: string }>;
  /** what is embedded for each chunk: the chunk in its context (streams/embed/points.ts) */
  texts: string[];
  /** content hash of each embedded text (with the model id, the embedding-cache key) */
  keys: string[];
}

export interface EmbedStageOptions {
  embedder: Embedder;
  cache: EmbeddingCache;
  index: VectorIndex;
  metrics: Metrics;
  chunking: { maxTokens: number; overlapTokens: number };
  /** How cleaned documents are read (Schema Registry wire format or plain JSON, both validated). */
  codec: ValueCodec;
  /**
   * Overlap embedding with index writes: the batch is embedded and written in groups of about this
   * many chunks, the next group embedding while the previous one's write is in flight (for an index
   * across the network, Qdrant). 0 or absent: the whole batch is one write (the embedded index, whose
   * writes run on this thread: nothing to overlap, and one fsync per batch).
   */
  overlapChunks?: number;
}

/**
 * embed: cleaned document → chunks → embeddings (cached by model and content hash) → index.
 * Update = upsert new chunks then drop older versions; delete = drop all chunks; both wait for the
 * index. Events not newer than what the index already applied are dropped. Each embedder call and
 * each index write is a span (children of the stage's batch span). What a failure concerns (this
 * document, or the batch: the registry, embedder or index is down) is the error's scope; the runtime
 * acts on it (consumers/runtime/stage-consumer.ts).
 */
export class EmbedStage implements Stage {
  readonly name = 'embed';
  private readonly o: EmbedStageOptions;

  constructor(options: EmbedStageOptions) {
    this.o = options;
  }

  async process(records: LogRecord[], signal: AbortSignal): Promise<RecordFailure[]> {
    const failures: RecordFailure[] = [];
    const parsed: Parsed[] = [];
    for (const rec of records) {
      try {
        parsed.push(await this.parse(rec));
      } catch (err) {
        failures.push(recordFailure(rec, err));
      }
    }
    const latest = latestPerDocument(parsed);
    const applied = await this.o.index.documentVersions(latest.map((p) => p.docId));
    const todo = latest.filter((p) => {
      const cur = applied.get(p.docId);
      return !(cur && cur.version !== null && p.version !== null && cur.version >= p.version);
    });

    // chunk every upsert; the embedding-cache key of each chunk
    const plans = new Map<Parsed, Plan>();
    for (const p of todo) {
      if (p.kind !== 'upsert') continue;
      try {
        const chunks = chunkDocument(p.doc, this.o.chunking);
        // what is embedded (and cached) is the chunk in its context: the document's title, then the chunk
        const texts = chunks.map((c) => contextualText(p.doc, c.text));
        plans.set(p, { p, chunks, texts, keys: texts.map((t) => contentHash(t)) });
      } catch (err) {
        failures.push(recordFailure(p.record, err));
      }
    }

    // embed and write in groups: while a group's index write is in flight (an HTTP request to Qdrant),
    // the next group is embedded; the offsets are committed by the runtime after the last write
    let writing: Promise<void> = Promise.resolve();
    for (const group of this.groups(todo, plans)) {
      const ops = await this.prepare(group, plans, signal, failures);
      await writing;
      writing = this.write(ops, failures);
      // a write failing while the next group embeds is seen at the next `await writing`
      writing.catch(() => {});
    }
    await writing;
    return failures;
  }

  /**
   * The documents of the batch in groups of about `overlapChunks` chunks (one group when writes are
   * not overlapped: one index write, one acknowledgement, for the whole batch).
   */
  private groups(todo: Parsed[], plans: Map<Parsed, Plan>): Parsed[][] {
    const size = this.o.overlapChunks ?? 0;
    if (size <= 0) return todo.length > 0 ? [todo] : [];
    const out: Parsed[][] = [];
    let cur: Parsed[] = [];
    let chunks = 0;
    for (const p of todo) {
      cur.push(p);
      chunks += plans.get(p)?.chunks.length ?? 1;
      if (chunks >= size) {
        out.push(cur);
        cur = [];
        chunks = 0;
      }
    }
    if (cur.length > 0) out.push(cur);
    return out;
  }

  /** Embeds a group's chunks (the cache first) and builds its index operations. */
  private async prepare(group: Parsed[], plans: Map<Parsed, Plan>, signal: AbortSignal, failures: RecordFailure[]): Promise<Array<{ p: Parsed; op: IndexOperation }>> {
    const groupPlans = group.flatMap((p) => { const pl = plans.get(p); return pl ? [pl] : []; });
    const vectors = await this.embedAll(groupPlans, signal, failures);
    const embeddedAt = Date.now();
    for (const plan of groupPlans) {
      if (plan.p.kind === 'upsert' && plan.keys.every((k) => vectors.has(k))) this.o.metrics.stageFreshnessSeconds.observe({ stage: 'embedded' }, Math.max(0, embeddedAt - plan.p.doc.sourceTsMs) / 1000);
    }
    const ops: Array<{ p: Parsed; op: IndexOperation }> = [];
    for (const p of group) {
      if (p.kind === 'delete') {
        ops.push({ p, op: { kind: 'delete', docId: p.docId, version: p.version } });
        continue;
      }
      const plan = plans.get(p);
      if (!plan || plan.keys.some((k) => !vectors.has(k))) continue; // failed earlier (already reported)
      const points = buildPoints(p.doc, plan.chunks, plan.keys.map((k) => vectors.get(k)!), this.o.embedder.id, plan.keys);
      ops.push({ p, op: { kind: 'replace', docId: p.docId, version: p.version, points } });
    }
    return ops;
  }

  /**
   * Applies a group to the index in one batch (one acknowledgement); if the batch is refused, falls
   * back to one document at a time so a single bad document is dead-lettered and the rest still land.
   */
  private async write(ops: Array<{ p: Parsed; op: IndexOperation }>, failures: RecordFailure[]): Promise<void> {
    if (ops.length === 0) return;
    const record = ({ p, op }: (typeof ops)[number], outcome: ApplyOutcome) => {
      if (outcome !== 'applied' || op.kind !== 'replace' || p.kind !== 'upsert') return;
      this.o.metrics.chunksIndexed.inc(op.points.length);
      // searchable: the index acknowledged the write
      const seconds = Math.max(0, Date.now() - p.doc.sourceTsMs) / 1000;
      this.o.metrics.freshnessSeconds.observe(seconds);
      this.o.metrics.stageFreshnessSeconds.observe({ stage: 'searchable' }, seconds);
    };
    try {
      const outcomes = await this.applyBatch(ops.map((o) => o.op));
      ops.forEach((o, i) => record(o, outcomes[i]!));
    } catch (err) {
      // an index that is down refuses every document alike: no use asking one at a time
      if (failureScope(err) === 'batch') throw err;
      for (const o of ops) {
        try {
          const [outcome] = await this.applyBatch([o.op]);
          record(o, outcome!);
        } catch (e) {
          failures.push(recordFailure(o.p.record, e));
        }
      }
    }
  }

  /** One index write (upserts then deletes of older versions, acknowledged), as a span. */
  private applyBatch(ops: IndexOperation[]): Promise<ApplyOutcome[]> {
    const points = ops.reduce((n, op) => n + (op.kind === 'replace' ? op.points.length : 0), 0);
    const started = performance.now();
    return withSpan(SpanNames.indexWrite, { [SpanAttributes.index]: this.o.index.kind, [SpanAttributes.indexOperations]: ops.length, [SpanAttributes.points]: points }, () => this.o.index.applyBatch(ops))
      .finally(() => this.o.metrics.indexWriteSeconds.observe({ index: this.o.index.kind }, (performance.now() - started) / 1000));
  }

  private async parse(rec: LogRecord): Promise<Parsed> {
    const docId = rec.key;
    if (!docId) throw new TributaryError('MALFORMED_EVENT', 'cleaned record has no key (document id)');
    const vh = rec.headers[DOC_VERSION_HEADER];
    if (rec.value === null) {
      const version = vh !== undefined && /^\d+$/.test(vh) ? Number(vh) : null;
      return { kind: 'delete', docId, version, offset: rec.offset, record: rec };
    }
    const doc = await this.o.codec.decode(Topics.cleaned, rec.value);
    if (doc.docId !== docId) throw new TributaryError('SCHEMA_VIOLATION', `cleaned record key ${docId} does not match docId ${doc.docId}`);
    return { kind: 'upsert', docId, version: doc.version, offset: rec.offset, record: rec, doc };
  }

  /** Looks texts up in the cache and embeds the misses in batches of the embedder's max batch. */
  private async embedAll(plans: Plan[], signal: AbortSignal, failures: RecordFailure[]): Promise<Map<string, Float32Array>> {
    const unique = new Map<string, string>();
    for (const pl of plans) pl.keys.forEach((k, i) => unique.set(k, pl.texts[i]!));
    const model = this.o.embedder.id;
    // an embedder cheaper than the cache (hashing) is asked for every text, and nothing is cached
    const cached = this.o.embedder.capabilities.cheaperThanCache !== true;
    const found = cached ? await this.o.cache.getMany(model, [...unique.keys()]) : new Map<string, Float32Array>();
    const misses = cached ? [...unique].filter(([k]) => !found.has(k)) : [...unique];
    if (cached) {
      this.o.metrics.embedCacheHits.inc(found.size);
      this.o.metrics.embedCacheMisses.inc(misses.length);
    }
    const max = this.o.embedder.capabilities.maxBatch;
    for (let i = 0; i < misses.length; i += max) {
      const slice = misses.slice(i, i + max);
      const t0 = performance.now();
      try {
        const vecs = await withSpan(SpanNames.embed, { [SpanAttributes.embedder]: model, [SpanAttributes.texts]: slice.length }, () => this.o.embedder.embed(slice.map(([, t]) => t), signal));
        this.o.metrics.embedSeconds.observe((performance.now() - t0) / 1000);
        const fresh: Array<[string, Float32Array]> = slice.map(([k], j) => [k, vecs[j]!]);
        for (const [k, v] of fresh) found.set(k, v);
        if (cached) await this.o.cache.putMany(model, fresh);
      } catch (err) {
        if (failureScope(err) === 'batch') throw err;
        // a rejected input (e.g. too long for the model): fail only the documents that contain it
        const bad = new Set(slice.map(([k]) => k));
        for (const pl of plans) if (pl.keys.some((k) => bad.has(k))) failures.push(recordFailure(pl.p.record, err));
      }
    }
    return found;
  }

}
