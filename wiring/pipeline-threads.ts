import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { Metrics, MetricsSnapshot } from '../observability/metrics.ts';
import { backoffDelay } from '../common/backoff.ts';
import type { Config } from './config.ts';
import type { ConsumerName, RunnableConsumer } from './consumers.ts';
import { ConsumerSpecs } from './consumers.ts';

/**
 * The embedded pipeline off the API's event loop: each stage consumer that does the pipeline's heavy
 * work (clean; embed) runs in a worker thread of its own (wiring/pipeline-worker.ts), with its own
 * SQLite connections and embedder. The API thread keeps the requests: it reads the index (WAL: a
 * search never waits for a pipeline write), embeds queries with its own embedder (never behind an
 * ingest batch) and writes producers' documents; each write wakes the pipeline thread at once (the
 * log's BroadcastChannel, adapters/event-log/embedded). With two stages in two threads, the pipeline
 * uses two cores; each thread runs at a lower scheduling priority than the API thread.
 *
 * Here: the threads' lifecycle (start, drain on close, restart with back-off when one dies), each
 * consumer's status as the API reports it (a `RunnableConsumer` standing for the one in the thread),
 * and the threads' counters and histograms summed into this process's /metrics.
 */

export interface PipelineThreadData {
  config: Config;
  names: ConsumerName[];
  /** Added to the thread's nice value (Linux), 0 for none. */
  niceness: number;
}

export type ThreadRequest =
  | { type: 'start' }
  | { type: 'start-consumer'; name: ConsumerName }
  | { type: 'stop-consumer'; name: ConsumerName }
  | { type: 'metrics'; id: number }
  | { type: 'close' };

type Status = RunnableConsumer['status'];

export type ThreadReply =
  | { type: 'ready'; niceness: number | null }
  | { type: 'failed'; message: string }
  | { type: 'status'; statuses: Status[] }
  | { type: 'consumer-stopped'; name: ConsumerName }
  | { type: 'metrics'; id: number; json: MetricsSnapshot }
  | { type: 'closed' };

/** Which consumers run in which thread: one thread per heavy stage; what is left stays on the API thread. */
export const THREADED_CONSUMERS: readonly ConsumerName[] = ['clean', 'embed'];

/** How long a closing thread may take to drain before it is terminated. */
const CLOSE_TIMEOUT_MS = 30_000;
const METRICS_TIMEOUT_MS = 2_000;
const RESTART_BACKOFF = { baseMs: 500, maxMs: 30_000 };

class PipelineThread {
  readonly names: ConsumerName[];
  readonly statuses = new Map<ConsumerName, Status>();
  private worker: Worker | null = null;
  private spawned = false;
  private closing = false;
  private failures = 0;
  private restartTimer: NodeJS.Timeout | null = null;
  private nextId = 0;
  private readonly pending = new Map<number, (json: MetricsSnapshot) => void>();
  private readonly stopWaiters = new Map<ConsumerName, Array<() => void>>();
  private closed: Promise<void> | null = null;
  private readonly o: { config: Config; logger: Logger; niceness: number };
  /** Resolves once the thread's consumers first report running (or the thread could not start). */
  readonly started: Promise<void>;
  private resolveStarted!: () => void;

  constructor(names: ConsumerName[], o: { config: Config; logger: Logger; niceness: number }) {
    this.names = names;
    this.o = o;
    this.started = new Promise((r) => { this.resolveStarted = r; });
    for (const n of names) this.statuses.set(n, { name: n, group: ConsumerSpecs[n].group, running: false, degraded: false, lastError: null });
  }

  start(): Promise<void> {
    if (!this.spawned) {
      this.spawned = true;
      this.spawn();
    }
    return this.started;
  }

  private spawn(): void {
    const data: PipelineThreadData = { config: this.o.config, names: this.names, niceness: this.o.niceness };
    const worker = new Worker(new URL('./pipeline-worker.ts', import.meta.url), { workerData: data, name: `tributary-${this.names.join('+')}` });
    this.worker = worker;
    worker.on('message', (m: ThreadReply) => this.onMessage(m));
    worker.on('error', (e) => {
      this.o.logger.error({ event: 'pipeline_thread.error', consumers: this.names, err: e.message }, `pipeline thread ${this.names.join('+')} failed: ${e.message}`);
      this.markDown(`INTERNAL: pipeline thread failed: ${e.message}`);
      this.resolveStarted();
    });
    worker.on('exit', (code) => {
      if (this.worker === worker) this.worker = null;
      for (const resolve of this.pending.values()) resolve([]);
      this.pending.clear();
      if (this.closing) return;
      // a thread that died is started again after a back-off: its consumers resume from their committed offsets
      this.failures++;
      const delay = backoffDelay(this.failures, RESTART_BACKOFF);
      this.o.logger.error({ event: 'pipeline_thread.exit', consumers: this.names, code, restartInMs: Math.round(delay) });
      this.markDown(`INTERNAL: pipeline thread exited (code ${code}); restarting in ${Math.round(delay)} ms`);
      this.restartTimer = setTimeout(() => { this.restartTimer = null; if (!this.closing) this.spawn(); }, delay);
      this.restartTimer.unref();
    });
  }

  private markDown(lastError: string): void {
    for (const [n, s] of this.statuses) this.statuses.set(n, { ...s, running: false, degraded: true, lastError });
  }

  private onMessage(m: ThreadReply): void {
    switch (m.type) {
      case 'ready':
        this.post({ type: 'start' });
        return;
      case 'failed':
        // it could not open what it needs (a file, the embedder): say so and let it exit; the exit handler restarts it
        this.o.logger.error({ event: 'pipeline_thread.failed', consumers: this.names, err: m.message }, `pipeline thread ${this.names.join('+')} could not start: ${m.message}`);
        this.markDown(m.message);
        this.resolveStarted();
        void this.worker?.terminate();
        return;
      case 'status':
        this.failures = 0;
        for (const s of m.statuses) this.statuses.set(s.name as ConsumerName, s);
        if (m.statuses.some((s) => s.running)) this.resolveStarted();
        return;
      case 'consumer-stopped':
        for (const w of this.stopWaiters.get(m.name) ?? []) w();
        this.stopWaiters.delete(m.name);
        return;
      case 'metrics':
        this.pending.get(m.id)?.(m.json);
        this.pending.delete(m.id);
        return;
      case 'closed':
        return;
    }
  }

  private post(m: ThreadRequest): boolean {
    if (!this.worker) return false;
    this.worker.postMessage(m);
    return true;
  }

  startConsumer(name: ConsumerName): void {
    void this.start();
    this.post({ type: 'start-consumer', name });
  }

  stopConsumer(name: ConsumerName): Promise<void> {
    return new Promise((resolve) => {
      if (!this.post({ type: 'stop-consumer', name })) return resolve();
      const list = this.stopWaiters.get(name) ?? [];
      list.push(resolve);
      this.stopWaiters.set(name, list);
    });
  }

  metrics(): Promise<MetricsSnapshot> {
    return new Promise((resolve) => {
      const id = this.nextId++;
      if (!this.post({ type: 'metrics', id })) return resolve([]);
      this.pending.set(id, resolve);
      setTimeout(() => { if (this.pending.delete(id)) resolve([]); }, METRICS_TIMEOUT_MS).unref();
    });
  }

  /** Drains the thread's consumers (in-flight batches finish and commit), closes its files, ends it. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      this.closing = true;
      if (this.restartTimer) clearTimeout(this.restartTimer);
      const worker = this.worker;
      if (!worker) return;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.o.logger.warn({ event: 'pipeline_thread.close_timeout', consumers: this.names, ms: CLOSE_TIMEOUT_MS });
          void worker.terminate();
        }, CLOSE_TIMEOUT_MS);
        worker.once('exit', () => { clearTimeout(timer); resolve(); });
        worker.postMessage({ type: 'close' } satisfies ThreadRequest);
      });
      for (const [n, s] of this.statuses) this.statuses.set(n, { ...s, running: false });
    })();
    return this.closed;
  }
}

/** A consumer that runs in a pipeline thread, as the API thread sees it. */
class ThreadedConsumer implements RunnableConsumer {
  readonly name: ConsumerName;
  private readonly thread: PipelineThread;

  constructor(name: ConsumerName, thread: PipelineThread) {
    this.name = name;
    this.thread = thread;
  }

  get status(): Status { return this.thread.statuses.get(this.name)!; }
  get running(): boolean { return this.status.running; }
  start(): void { this.thread.startConsumer(this.name); }
  stop(): Promise<void> { return this.thread.stopConsumer(this.name); }
}

export interface PipelineThreads {
  /** One per threaded consumer, in the order asked for. */
  readonly consumers: RunnableConsumer[];
  /** Starts the threads; resolves once each reported its consumers running (or failed to start, which its status says). */
  start(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Threads for `names` (those of THREADED_CONSUMERS; the caller keeps the rest on its own thread).
 * Nothing starts until `start()`; the threads' metrics count in `metrics` from then on.
 */
export function createPipelineThreads(names: ConsumerName[], o: { config: Config; logger: Logger; metrics: Metrics }): PipelineThreads {
  const threads = names.map((n) => new PipelineThread([n], { config: o.config, logger: o.logger, niceness: o.config.pipelineNiceness }));
  const consumers = threads.map((t) => new ThreadedConsumer(t.names[0]!, t));
  const removers: Array<() => void> = [];
  return {
    consumers,
    async start() {
      if (removers.length === 0) for (const t of threads) removers.push(o.metrics.addSource(() => t.metrics()));
      await Promise.all(threads.map((t) => t.start()));
    },
    async close() {
      await Promise.all(threads.map((t) => t.close()));
      for (const remove of removers.splice(0)) remove();
    },
  };
}
