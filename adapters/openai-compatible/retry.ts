import { TributaryError } from '../../ports/errors.ts';
import { abortedError } from './upstream-error.ts';

export interface RetryPolicy {
  /** Retries after the first attempt (0 = try once). */
  maxRetries: number;
  /** First back-off delay; doubles with each retry (with jitter). */
  baseMs: number;
  /** Longest back-off, and the longest Retry-After the adapter will sleep through itself. */
  maxMs: number;
}

/**
 * Runs `call`, retrying while the (mapped) error is retryable and retries remain. A Retry-After
 * from the upstream is honoured exactly; otherwise the delay is exponential with jitter. A
 * Retry-After longer than `maxMs` is not slept through here: the error is thrown at once and
 * carries `retryAfterMs` for the caller's own back-off.
 */
export async function withRetries<T>(
  call: () => Promise<T>,
  policy: RetryPolicy,
  mapError: (err: unknown) => TributaryError,
  signal?: AbortSignal,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    if (signal?.aborted) throw abortedError(signal);
    try {
      return await call();
    } catch (e) {
      const err = mapError(e);
      if (!err.retryable || err.code === 'SHUTTING_DOWN' || signal?.aborted) throw err;
      const delay = retryDelay(attempt, policy, err.retryAfterMs);
      if (attempt > policy.maxRetries || delay === undefined) throw withAttempts(err, attempt);
      await sleep(delay, signal);
    }
  }
}

/** Delay before retry number `attempt` (1-based), or undefined when the upstream asks for more than `maxMs`. */
export function retryDelay(attempt: number, policy: RetryPolicy, retryAfterMs: number | undefined): number | undefined {
  if (retryAfterMs !== undefined) return retryAfterMs <= policy.maxMs ? retryAfterMs : undefined;
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** (attempt - 1));
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

function withAttempts(err: TributaryError, attempts: number): TributaryError {
  if (attempts === 1) return err;
  return new TributaryError(err.code, `${err.message} (after ${attempts} attempts)`, {
    cause: err.cause,
    retryable: err.retryable,
    retryAfterMs: err.retryAfterMs,
    upstreamStatus: err.upstreamStatus,
    details: err.details,
  });
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortedError(signal));
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortedError(signal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
