import { backoffDelay } from '../common/backoff.ts';
import { sleep } from '../common/sleep.ts';
import { ApiPaths } from './api-paths.ts';
import { ApiError, type ApiClient } from './client.ts';
import { batchItems, type PreparedItem } from './files.ts';
import type { ProgressBar } from './progress.ts';

/**
 * Sends prepared items to POST /v1/content in batches. Retryable answers (429/503, or the server's
 * `retryable` flag) are retried as common/backoff.ts says (at least the Retry-After). A batch
 * the server rejects as a whole (400/413/422) is split in halves until the bad items are isolated,
 * so one bad document does not keep the others out. Publishing is idempotent (source + externalId),
 * so a retried batch never duplicates documents.
 */

export interface UploadOptions {
  client: ApiClient;
  items: PreparedItem[];
  batch: { maxItems: number; maxBytes: number };
  progress?: ProgressBar;
  signal?: AbortSignal;
  retry?: { attempts: number; baseMs: number; maxMs: number };
  /** Waits between retries; an abort may end it early (checked after it). Default common/sleep.ts. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  now?: () => number;
}

export interface UploadFailure {
  label: string;
  error: string;
  details: string[];
}

export interface UploadResult {
  sent: number;
  accepted: number;
  bytes: number;
  elapsedMs: number;
  requests: number;
  /** Per-document outcome counts when the server reports them (created / updated / unchanged). */
  outcomes: Record<string, number>;
  failures: UploadFailure[];
  interrupted: boolean;
}

const SPLITTABLE = new Set([400, 413, 422]);

export async function uploadItems(o: UploadOptions): Promise<UploadResult> {
  const now = o.now ?? (() => performance.now());
  const retry = o.retry ?? { attempts: 5, baseMs: 250, maxMs: 10_000 };
  const pause = o.sleep ?? sleep;
  const started = now();
  const r: UploadResult = { sent: 0, accepted: 0, bytes: 0, elapsedMs: 0, requests: 0, outcomes: {}, failures: [], interrupted: false };
  const report = () => o.progress?.update({ done: r.sent, bytes: r.bytes, failed: r.failures.length });

  const post = async (items: PreparedItem[]): Promise<unknown> => {
    for (let attempt = 1; ; attempt++) {
      r.requests++;
      try {
        return await o.client.json('POST', ApiPaths.content, { body: { items: items.map((i) => i.item) }, ...(o.signal ? { signal: o.signal } : {}), timeoutMs: 120_000 });
      } catch (e) {
        if (!(e instanceof ApiError) || !e.retryable || attempt >= retry.attempts) throw e;
        const wait = backoffDelay(attempt, retry, e.retryAfterMs);
        o.progress?.log(`  server busy (${e.code ?? e.status}); retrying in ${Math.round(wait)} ms (attempt ${attempt + 1}/${retry.attempts})`);
        await pause(wait, o.signal);
        o.signal?.throwIfAborted(); // stops the run (caught below as interrupted)
      }
    }
  };

  const send = async (items: PreparedItem[]): Promise<void> => {
    try {
      const body = await post(items);
      countOutcomes(body, items.length, r.outcomes);
      r.accepted += items.length;
    } catch (e) {
      if (!(e instanceof ApiError)) throw e; // unreachable server, abort: the whole run stops
      if (SPLITTABLE.has(e.status) && items.length > 1) {
        const half = Math.ceil(items.length / 2);
        await send(items.slice(0, half));
        await send(items.slice(half));
        return;
      }
      for (const it of items) r.failures.push({ label: it.label, error: e.message, details: e.hints });
    }
  };

  const batches = batchItems(o.items, (i) => i.bytes, o.batch);
  try {
    for (const batch of batches) {
      if (o.signal?.aborted) { r.interrupted = true; break; }
      await send(batch);
      r.sent += batch.length;
      r.bytes += batch.reduce((a, i) => a + i.bytes, 0);
      report();
    }
  } catch (e) {
    if (!(o.signal?.aborted && (e as { name?: unknown }).name === 'AbortError')) throw e;
    r.interrupted = true;
  } finally {
    r.elapsedMs = now() - started;
    o.progress?.finish();
  }
  return r;
}

/**
 * Adds the server's per-document outcomes to `into`: `{results|documents|items: [{outcome|status}]}`
 * or counters `{created, updated, unchanged}`. Unknown shapes count as "accepted".
 */
export function countOutcomes(body: unknown, n: number, into: Record<string, number>): void {
  const add = (k: string, v: number) => { into[k] = (into[k] ?? 0) + v; };
  if (body && typeof body === 'object') {
    const b = body as Record<string, unknown>;
    const list = [b['results'], b['documents'], b['items']].find(Array.isArray) as unknown[] | undefined;
    if (list) {
      for (const entry of list) {
        const e = entry as { outcome?: unknown; status?: unknown } | null;
        const outcome = typeof e?.outcome === 'string' ? e.outcome : typeof e?.status === 'string' ? e.status : 'accepted';
        add(outcome, 1);
      }
      return;
    }
    const counters = ['created', 'updated', 'unchanged'].filter((k) => typeof b[k] === 'number');
    if (counters.length > 0) {
      for (const k of counters) add(k, b[k] as number);
      return;
    }
  }
  add('accepted', n);
}
