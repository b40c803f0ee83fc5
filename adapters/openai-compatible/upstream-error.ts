import { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from 'openai';
import { findTributaryError, TributaryError, type ErrorCode } from '../../ports/errors.ts';

/** Which port the error is reported for: the codes differ, the mapping does not. */
export type UpstreamFamily = 'EMBEDDER' | 'LLM';

const CODES = {
  EMBEDDER: { rateLimited: 'EMBEDDER_RATE_LIMITED', unavailable: 'EMBEDDER_UNAVAILABLE', rejected: 'EMBEDDER_REJECTED' },
  LLM: { rateLimited: 'LLM_RATE_LIMITED', unavailable: 'LLM_UNAVAILABLE', rejected: 'LLM_REJECTED' },
} as const satisfies Record<UpstreamFamily, Record<'rateLimited' | 'unavailable' | 'rejected', ErrorCode>>;

/** Statuses worth trying again: request timeout, conflict (lock timeout), rate limit, server errors. */
function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 409 || status === 429 || status >= 500;
}

/** Milliseconds to wait from `retry-after-ms` (milliseconds) or `Retry-After` (seconds or an HTTP date). */
export function retryAfterFromHeaders(headers: Headers | undefined, now: number = Date.now()): number | undefined {
  if (!headers) return undefined;
  const ms = headers.get('retry-after-ms');
  if (ms !== null && ms.trim() !== '') {
    const v = Number(ms);
    if (Number.isFinite(v) && v >= 0) return Math.ceil(v);
  }
  const ra = headers.get('retry-after');
  if (ra !== null && ra.trim() !== '') {
    const seconds = Number(ra);
    if (Number.isFinite(seconds) && seconds >= 0) return Math.ceil(seconds * 1000);
    const at = Date.parse(ra);
    if (Number.isFinite(at)) return Math.max(0, at - now);
  }
  return undefined;
}

/** The error to throw when the caller's signal aborted the call: retryable, never a verdict on the input. */
export function abortedError(signal: AbortSignal | undefined, cause?: unknown): TributaryError {
  return new TributaryError('SHUTTING_DOWN', 'call aborted by the caller', { cause: signal?.reason ?? cause });
}

/**
 * Maps anything the SDK (or the transport under it) throws to a TributaryError with a stable code,
 * the right `retryable` flag, the upstream status, the Retry-After delay and the original cause.
 * `what` names the call for the message ("embeddings request to http://…").
 */
export function toUpstreamError(err: unknown, family: UpstreamFamily, what: string, signal?: AbortSignal): TributaryError {
  const known = findTributaryError(err);
  if (known) return known;
  const codes = CODES[family];
  if (err instanceof APIUserAbortError || signal?.aborted) return abortedError(signal, err);
  if (err instanceof APIConnectionTimeoutError) {
    return new TributaryError(codes.unavailable, `${what} timed out`, { cause: err });
  }
  if (err instanceof APIConnectionError) {
    const detail = err.cause instanceof Error && err.cause.message ? `${err.message} (${err.cause.message})` : err.message;
    return new TributaryError(codes.unavailable, `${what} could not connect: ${detail}`, { cause: err });
  }
  if (err instanceof APIError) {
    const status = err.status;
    if (status === undefined) {
      // an error event inside a stream: the upstream failed after it had started answering
      return new TributaryError(codes.unavailable, `${what} failed: ${err.message}`, { cause: err });
    }
    const retryAfterMs = retryAfterFromHeaders(err.headers);
    const base = { cause: err, upstreamStatus: status, retryAfterMs, details: err.error };
    if (status === 429) return new TributaryError(codes.rateLimited, `${what} was rate limited (429): ${err.message}`, base);
    if (isRetryableStatus(status)) return new TributaryError(codes.unavailable, `${what} failed with ${status}: ${err.message}`, base);
    // our key, our permissions or our model refused: a rejection, yet of every request alike (scope: ports/errors.ts)
    const everyRequest = status === 401 || status === 403 || status === 404;
    return new TributaryError(codes.rejected, `${what} was rejected with ${status}: ${err.message}`, { ...base, retryable: false, ...(everyRequest ? { scope: 'batch' as const } : {}) });
  }
  // the transport broke under the SDK (e.g. the connection was reset while the body streamed)
  const message = err instanceof Error ? err.message : String(err);
  return new TributaryError(codes.unavailable, `${what} failed: ${message}`, { cause: err });
}
