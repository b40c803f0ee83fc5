import { backoffDelay, exceedsBackoff, type BackoffPolicy } from '../../common/backoff.ts';
import { sleep } from '../../common/sleep.ts';
import { TributaryError } from '../../ports/errors.ts';
import { abortedError } from './upstream-error.ts';

export interface RetryPolicy extends BackoffPolicy {
  /** Retries after the first attempt (0 = try once). */
  maxRetries: number;
}

/**
 * Runs `call`, retrying while the (mapped) error is retryable and retries remain, waiting as
 * common/backoff.ts says (at least the upstream's Retry-After; otherwise exponential with jitter).
 * A Retry-After longer than `maxMs` is not slept through here: the error is thrown at once and
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
      if (attempt > policy.maxRetries || exceedsBackoff(policy, err.retryAfterMs)) throw withAttempts(err, attempt);
      // an abort ends the sleep early; the check at the top of the loop then throws
      await sleep(backoffDelay(attempt, policy, err.retryAfterMs), signal);
    }
  }
}

function withAttempts(err: TributaryError, attempts: number): TributaryError {
  if (attempts === 1) return err;
  return new TributaryError(err.code, `${err.message} (after ${attempts} attempts)`, {
    cause: err.cause,
    retryable: err.retryable,
    scope: err.scope,
    retryAfterMs: err.retryAfterMs,
    upstreamStatus: err.upstreamStatus,
    details: err.details,
  });
}
