import { TributaryError, findTributaryError } from '../../../ports/errors.ts';

export function rejected(message: string): TributaryError {
  return new TributaryError('INDEX_REJECTED', `qdrant index: ${message}`);
}

/**
 * Maps whatever the Qdrant client threw to a TributaryError (recognised by shape, not class identity):
 * unreachable, timed out, 408/429/5xx → INDEX_UNAVAILABLE (retryable: the embed consumer backs off and
 * keeps its batch); any other status → INDEX_REJECTED with the server's answer.
 */
export function qdrantError(e: unknown, what: string): TributaryError {
  const found = findTributaryError(e);
  if (found) return found;
  const err = e as { name?: unknown; status?: unknown; data?: unknown; retry_after?: unknown; message?: unknown; cause?: unknown } | null;
  const cause = err?.cause as { code?: unknown; message?: unknown } | undefined;
  const why = typeof cause?.code === 'string' ? ` (${cause.code})` : '';
  const message = `qdrant index: ${what} failed: ${typeof err?.message === 'string' ? err.message : String(e)}${why}`;
  if (err?.name === 'QdrantClientResourceExhaustedError') {
    const after = typeof err.retry_after === 'number' ? err.retry_after * 1000 : undefined;
    return new TributaryError('INDEX_UNAVAILABLE', message, { cause: e, upstreamStatus: 429, ...(after !== undefined ? { retryAfterMs: after } : {}) });
  }
  if (err?.name === 'QdrantClientTimeoutError') return new TributaryError('INDEX_UNAVAILABLE', message, { cause: e });
  if (typeof err?.status === 'number') {
    const status = err.status;
    const detail = err.data === undefined ? '' : `: ${JSON.stringify(err.data).slice(0, 500)}`;
    if (status === 408 || status === 429 || status >= 500) {
      return new TributaryError('INDEX_UNAVAILABLE', message + detail, { cause: e, upstreamStatus: status });
    }
    return new TributaryError('INDEX_REJECTED', message + detail, { cause: e, upstreamStatus: status, details: err.data });
  }
  // fetch() rejects with a TypeError when the server cannot be reached
  if (e instanceof TypeError) return new TributaryError('INDEX_UNAVAILABLE', message, { cause: e });
  if (err?.name === 'QdrantClientUnexpectedResponseError') return new TributaryError('INDEX_REJECTED', message, { cause: e });
  return new TributaryError('INTERNAL', message, { cause: e });
}
