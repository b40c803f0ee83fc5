/**
 * The one back-off rule of Tributary: every retry loop (stage consumers, the event logs' partition
 * loops and consumer restarts, the outbox relay, the OpenAI-compatible adapters, the CLI upload)
 * asks `backoffDelay` how long to wait.
 *
 * Without a Retry-After: exponential with jitter. Retry `attempt` (1-based) has the ceiling
 * `min(maxMs, baseMs · 2^(attempt-1))` and waits a random time in [ceiling/2, ceiling] ("equal
 * jitter": spread out so that failed clients do not retry in step, yet never much shorter than the
 * ceiling, so a loop still slows down as failures pile up).
 *
 * With a Retry-After from the server (429/503, or an error's `retryAfterMs`): wait at least that
 * long — `max(jittered, retryAfter)` — so a retry never comes before the server said it would be
 * welcome, and a server that keeps answering "retry after 0" still meets a growing back-off. A
 * Retry-After is believed up to `retryAfterCapMs(policy)` (ten times `maxMs`); beyond that it is
 * treated as a broken or hostile value and the wait is that cap.
 *
 * A loop that serves a request (the OpenAI-compatible adapters) does not hold the request for
 * longer than `maxMs`: when `exceedsBackoff(policy, retryAfterMs)` it gives up at once and hands
 * the error, which carries `retryAfterMs`, to its caller, whose own loop waits it out.
 */

export interface BackoffPolicy {
  /** Ceiling of the first retry's delay; doubles with each retry. */
  baseMs: number;
  /** Largest exponential delay. */
  maxMs: number;
}

/** The longest Retry-After a loop with `policy` waits for: ten times its largest exponential delay. */
export function retryAfterCapMs(policy: BackoffPolicy): number {
  return policy.maxMs * 10;
}

/** Delay before retry number `attempt` (1-based); see the rule above. `random` is for tests. */
export function backoffDelay(attempt: number, policy: BackoffPolicy, retryAfterMs?: number, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(Math.max(0, attempt - 1), 30));
  const jittered = ceiling / 2 + random() * (ceiling / 2);
  if (retryAfterMs === undefined) return jittered;
  return Math.max(jittered, Math.min(retryAfterMs, retryAfterCapMs(policy)));
}

/** True when the server asks for a longer wait than a request-serving loop with `policy` sleeps through itself. */
export function exceedsBackoff(policy: BackoffPolicy, retryAfterMs: number | undefined): boolean {
  return retryAfterMs !== undefined && retryAfterMs > policy.maxMs;
}
