import type { EmbedOptions, Embedder, EmbedderCapabilities } from '../../ports/embedder.ts';
import { TributaryError } from '../../ports/errors.ts';

/**
 * Queries first at the embedder. Wraps any embedder; every call names its priority (`query`: a
 * search or RAG request waits on it; `batch`: pipeline work, the default).
 *
 *  - Batch calls are cut into pieces of at most `pieceSize` texts; each piece is one call to the model.
 *  - `shared` (a local model: the ONNX runtime on this machine's cores): one call runs at a time, and
 *    a waiting query always goes before waiting pieces, so a query waits at most for the one piece
 *    already running.
 *  - not shared (a remote endpoint): queries and pieces have separate concurrency
 *    (`queryConcurrency`, `batchConcurrency`): a query never queues behind batch work at all.
 *
 * `stats()` reports what waited and for how long (the load benchmark reads it).
 */
export interface PriorityEmbedderOptions {
  /** Texts per model call for batch work. */
  pieceSize: number;
  /** One model call at a time, queries first (a local model); else separate lanes. */
  shared: boolean;
  /** Calls in flight for queries (lanes only). */
  queryConcurrency: number;
  /** Calls in flight for batch pieces (lanes only). */
  batchConcurrency: number;
}

type Lane = 'query' | 'batch';

interface Waiter { lane: Lane; start: () => void }

export class PriorityEmbedder implements Embedder {
  readonly id: string;
  readonly capabilities: EmbedderCapabilities;
  readonly inner: Embedder;
  private readonly o: PriorityEmbedderOptions;
  private readonly running = { query: 0, batch: 0 };
  private readonly waiting: Waiter[] = [];
  private readonly waits = { query: { count: 0, totalMs: 0, maxMs: 0 }, batch: { count: 0, totalMs: 0, maxMs: 0 } };

  constructor(inner: Embedder, options: PriorityEmbedderOptions) {
    const bad = (['pieceSize', 'queryConcurrency', 'batchConcurrency'] as const).filter((k) => !Number.isInteger(options[k]) || options[k] < 1);
    if (bad.length > 0) throw new TributaryError('INVALID_CONFIG', `priority embedder: ${bad.map((k) => `${k} must be a positive integer, got ${String(options[k])}`).join('; ')}`);
    this.inner = inner;
    this.id = inner.id;
    this.capabilities = inner.capabilities;
    this.o = options;
  }

  async embed(texts: string[], signal?: AbortSignal, options?: EmbedOptions): Promise<Float32Array[]> {
    if (texts.length === 0) return [];
    const lane: Lane = options?.priority === 'query' ? 'query' : 'batch';
    if (lane === 'query') return this.call('query', texts, signal);
    const out: Float32Array[] = [];
    for (let i = 0; i < texts.length; i += this.o.pieceSize) {
      out.push(...await this.call('batch', texts.slice(i, i + this.o.pieceSize), signal));
    }
    return out;
  }

  /** How often each lane waited for a slot, and for how long (ms). */
  stats(): { query: { count: number; totalMs: number; maxMs: number }; batch: { count: number; totalMs: number; maxMs: number } } {
    return { query: { ...this.waits.query }, batch: { ...this.waits.batch } };
  }

  private async call(lane: Lane, texts: string[], signal: AbortSignal | undefined): Promise<Float32Array[]> {
    await this.acquire(lane, signal);
    try {
      return await this.inner.embed(texts, signal, { priority: lane });
    } finally {
      this.running[lane]--;
      this.dispatch();
    }
  }

  private canRun(lane: Lane): boolean {
    if (this.o.shared) return this.running.query + this.running.batch === 0;
    return this.running[lane] < (lane === 'query' ? this.o.queryConcurrency : this.o.batchConcurrency);
  }

  private acquire(lane: Lane, signal: AbortSignal | undefined): Promise<void> {
    if (signal?.aborted) return Promise.reject(new TributaryError('SHUTTING_DOWN', 'embedding aborted by the caller', { cause: signal.reason }));
    // a batch piece also yields to queries already waiting (shared model)
    const queryWaits = this.waiting.some((w) => w.lane === 'query');
    if (this.canRun(lane) && (lane === 'query' || !queryWaits)) {
      this.running[lane]++;
      return Promise.resolve();
    }
    const queuedAt = performance.now();
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        lane,
        start: () => {
          signal?.removeEventListener('abort', onAbort);
          const ms = performance.now() - queuedAt;
          const w = this.waits[lane];
          w.count++;
          w.totalMs += ms;
          w.maxMs = Math.max(w.maxMs, ms);
          resolve();
        },
      };
      const onAbort = () => {
        const i = this.waiting.indexOf(waiter);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(new TributaryError('SHUTTING_DOWN', 'embedding aborted by the caller', { cause: signal?.reason }));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(waiter);
    });
  }

  /** Starts what may run now: waiting queries first, then batch pieces in arrival order. */
  private dispatch(): void {
    for (const lane of ['query', 'batch'] as const) {
      for (let i = 0; i < this.waiting.length;) {
        const w = this.waiting[i]!;
        if (w.lane !== lane || !this.canRun(lane)) { i++; continue; }
        this.waiting.splice(i, 1);
        this.running[lane]++;
        w.start();
      }
    }
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
