import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { backoffDelay } from '../../common/backoff.ts';
import { sleep } from '../../common/sleep.ts';
import { toTributaryError } from '../../ports/errors.ts';
import type { EventLog, ProducerRecord } from '../../ports/event-log.ts';

/**
 * The relay: copies the embedded store's change outbox to the event log (Kafka), in write order,
 * and moves the outbox position only after the log acknowledged — a crash re-sends, never skips.
 * One relay at a time holds the outbox lease (renewed every round); a relay that loses it stops
 * marking progress and waits, so two processes opening the same store never relay concurrently
 * for longer than one in-flight batch (whose duplicates the consumers drop by document version).
 * A log that is unavailable (broker down) is retried with back-off, forever; writes keep landing
 * in the outbox meanwhile, so producers never notice.
 */

/** What the relay needs from the outbox (adapters/embedded-store/change-outbox.ts implements it). */
export interface ChangeOutbox {
  pending(limit: number): Array<{ seq: number; topic: string; record: ProducerRecord }>;
  acquireLease(owner: string, ttlMs: number): boolean;
  markRelayed(owner: string, seq: number): boolean;
  releaseLease(owner: string): void;
  waitForAppend(ms: number, signal: AbortSignal): Promise<void>;
  stats(): { pending: number; oldestPendingMs: number | null };
}

export interface OutboxRelayOptions {
  outbox: ChangeOutbox;
  log: EventLog;
  logger: Logger;
  /** How often to look for changes written by other processes (this process's writes wake it at once). */
  pollMs: number;
  /** Records per log append. */
  batchRecords?: number;
  /** Lease time; another relay may take over after it lapses. */
  leaseMs?: number;
  /** Back-off while the log is unavailable. */
  retry?: { baseMs: number; maxMs: number };
  owner?: string;
}

export const RelayLogEvents = {
  started: 'relay.started',
  stopped: 'relay.stopped',
  appendFailed: 'relay.append_failed',
  recovered: 'relay.recovered',
  leaseLost: 'relay.lease_lost',
} as const;

export interface OutboxRelayStatus {
  running: boolean;
  /** This process currently holds the lease. */
  active: boolean;
  relayed: number;
  consecutiveFailures: number;
  lastError: string | null;
}

export class OutboxRelay {
  private readonly o: Required<Omit<OutboxRelayOptions, 'owner'>> & { owner: string };
  private controller: AbortController | null = null;
  private loop: Promise<void> | null = null;
  private active = false;
  private relayed = 0;
  private failures = 0;
  private lastError: string | null = null;
  private readonly idleWaiters = new Set<() => void>();

  constructor(options: OutboxRelayOptions) {
    this.o = {
      batchRecords: 500,
      leaseMs: 15_000,
      retry: { baseMs: 200, maxMs: 10_000 },
      owner: `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`,
      ...options,
    };
  }

  get status(): OutboxRelayStatus {
    return { running: this.loop !== null, active: this.active, relayed: this.relayed, consecutiveFailures: this.failures, lastError: this.lastError };
  }

  start(): void {
    if (this.loop) return;
    this.controller = new AbortController();
    this.loop = this.run(this.controller.signal);
    this.o.logger.info({ event: RelayLogEvents.started, owner: this.o.owner }, 'outbox relay started');
  }

  /** Finishes the in-flight append (its position is saved if it was acknowledged), then releases the lease. */
  async stop(): Promise<void> {
    if (!this.loop) return;
    this.controller!.abort();
    await this.loop;
    this.loop = null;
    try { this.o.outbox.releaseLease(this.o.owner); } catch { /* store already closed */ }
    this.active = false;
    this.o.logger.info({ event: RelayLogEvents.stopped, relayed: this.relayed }, 'outbox relay stopped');
  }

  /** Resolves once the outbox is empty (everything written so far is on the log). For tools and tests. */
  async drained(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.o.outbox.stats().pending > 0) {
      if (Date.now() > deadline) throw new Error(`outbox not drained after ${timeoutMs} ms (${this.o.outbox.stats().pending} pending; last error: ${this.lastError ?? 'none'})`);
      await new Promise<void>((r) => { this.idleWaiters.add(r); setTimeout(r, 50); });
    }
  }

  private async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        await this.round(signal);
      } catch (e) {
        // the store itself failed (e.g. locked beyond the busy timeout): nothing was marked; try again
        this.lastError = `store: ${(e as Error).message}`;
        this.o.logger.warn({ event: RelayLogEvents.appendFailed, err: this.lastError }, 'outbox relay: reading the outbox failed; retrying');
        await sleep(this.o.retry.baseMs * 5, signal);
      }
    }
  }

  /** One round: hold the lease, send the oldest pending events, mark them relayed once acknowledged. */
  private async round(signal: AbortSignal): Promise<void> {
    if (!this.o.outbox.acquireLease(this.o.owner, this.o.leaseMs)) {
      this.active = false;
      await sleep(Math.min(this.o.leaseMs / 3, 2_000), signal);
      return;
    }
    this.active = true;
    const rows = this.o.outbox.pending(this.o.batchRecords);
    if (rows.length === 0) {
      for (const w of this.idleWaiters) w();
      this.idleWaiters.clear();
      await this.o.outbox.waitForAppend(this.o.pollMs, signal);
      return;
    }
    try {
      // consecutive rows of one topic go in one append, in order
      for (let i = 0; i < rows.length;) {
        let j = i;
        while (j < rows.length && rows[j]!.topic === rows[i]!.topic) j++;
        await this.o.log.append(rows[i]!.topic, rows.slice(i, j).map((r) => r.record));
        i = j;
      }
    } catch (e) {
      const te = toTributaryError(e);
      this.failures++;
      this.lastError = `${te.code}: ${te.message}`;
      const delay = backoffDelay(this.failures, this.o.retry);
      this.o.logger.warn({ event: RelayLogEvents.appendFailed, code: te.code, err: te.message, attempt: this.failures, delayMs: Math.round(delay), pending: rows.length }, 'outbox relay: the log did not acknowledge; retrying');
      await sleep(delay, signal);
      return;
    }
    if (this.failures > 0) this.o.logger.info({ event: RelayLogEvents.recovered, after: this.failures }, 'outbox relay: the log acknowledges again');
    this.failures = 0;
    this.lastError = null;
    const last = rows[rows.length - 1]!.seq;
    if (!this.o.outbox.markRelayed(this.o.owner, last)) {
      this.active = false;
      this.o.logger.warn({ event: RelayLogEvents.leaseLost, owner: this.o.owner }, 'outbox relay lost its lease to another process; its batch will be re-sent by the new relay');
      return;
    }
    this.relayed += rows.length;
  }
}
