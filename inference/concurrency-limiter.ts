import { TributaryError } from '../ports/errors.ts';

export interface ConcurrencyLimiterOptions {
  /** Slots: requests in flight at once. */
  max: number;
  /** Waiters beyond the slots; past that `acquire` fails at once with INFERENCE_OVERLOADED. */
  maxQueue: number;
  /** Longest wait for a slot; past that `acquire` fails with INFERENCE_QUEUE_TIMEOUT. */
  queueTimeoutMs: number;
  /** Names the limiter in error messages. */
  name: string;
}

interface Waiter {
  resolve(): void;
  reject(e: unknown): void;
  timer: NodeJS.Timeout;
  signal: AbortSignal | undefined;
  onAbort: () => void;
}

/**
 * A counting semaphore with a bounded FIFO queue and a queue timeout. A released slot goes straight
 * to the oldest waiter, so a waiter is never overtaken by a newcomer.
 */
export class ConcurrencyLimiter {
  private readonly o: ConcurrencyLimiterOptions;
  private active = 0;
  private readonly waiters: Waiter[] = [];

  constructor(options: ConcurrencyLimiterOptions) {
    this.o = options;
  }

  get inFlight(): number { return this.active; }
  get queued(): number { return this.waiters.length; }
  get capacity(): number { return this.o.max; }
  /** In flight plus waiting. */
  get outstanding(): number { return this.active + this.waiters.length; }
  get hasFreeSlot(): boolean { return this.active < this.o.max; }
  /** Neither a free slot nor room in the queue. */
  get full(): boolean { return this.active >= this.o.max && this.waiters.length >= this.o.maxQueue; }
  /** A rough wait for a client told to come back later. */
  get retryAfterMs(): number { return Math.min(this.o.queueTimeoutMs, 1000); }

  /** Takes a slot, waiting in the queue if needed. Rejects on a full queue, a queue timeout or an abort. */
  acquire(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.active < this.o.max) {
      this.active++;
      return Promise.resolve();
    }
    if (this.waiters.length >= this.o.maxQueue) {
      return Promise.reject(new TributaryError('INFERENCE_OVERLOADED', `upstream "${this.o.name}" is at its concurrency limit (${this.o.max}) and its queue is full (${this.o.maxQueue})`, { retryAfterMs: this.retryAfterMs }));
    }
    return new Promise<void>((resolve, reject) => {
      const w: Waiter = {
        resolve, reject, signal,
        timer: setTimeout(() => {
          this.remove(w);
          reject(new TributaryError('INFERENCE_QUEUE_TIMEOUT', `waited ${this.o.queueTimeoutMs} ms for a free slot on upstream "${this.o.name}"`, { retryAfterMs: this.retryAfterMs }));
        }, this.o.queueTimeoutMs),
        onAbort: () => {
          this.remove(w);
          reject(signal!.reason);
        },
      };
      signal?.addEventListener('abort', w.onAbort, { once: true });
      this.waiters.push(w);
    });
  }

  /** Gives a slot back: to the oldest waiter if there is one. */
  release(): void {
    const next = this.waiters.shift();
    if (next) {
      this.settle(next);
      next.resolve();
      return;
    }
    if (this.active > 0) this.active--;
  }

  /** Fails every waiter (e.g. the upstream was ejected, or the gateway closes). */
  rejectAll(err: unknown): void {
    for (const w of this.waiters.splice(0)) {
      this.settle(w);
      w.reject(err);
    }
  }

  private remove(w: Waiter): void {
    const i = this.waiters.indexOf(w);
    if (i >= 0) this.waiters.splice(i, 1);
    this.settle(w);
  }

  private settle(w: Waiter): void {
    clearTimeout(w.timer);
    w.signal?.removeEventListener('abort', w.onAbort);
  }
}
