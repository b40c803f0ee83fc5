export interface BackoffPolicy {
  baseMs: number;
  maxMs: number;
}

/** Exponential back-off with full jitter; an error's Retry-After wins when it is longer. */
export function backoffDelay(attempt: number, policy: BackoffPolicy, retryAfterMs?: number, random = Math.random): number {
  const exp = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, attempt - 1));
  const jittered = exp / 2 + random() * (exp / 2);
  return Math.max(jittered, Math.min(retryAfterMs ?? 0, policy.maxMs * 10));
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve(); }, ms);
    const onAbort = () => { clearTimeout(t); resolve(); };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
