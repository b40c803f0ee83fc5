/**
 * The one abortable sleep. Resolves after `ms`, or at once when `signal` aborts (already aborted:
 * resolves immediately). It never rejects: a caller that must stop on abort checks the signal
 * afterwards (`signal?.throwIfAborted()`, or `if (signal.aborted) break`). The timer is cleared on
 * abort and the abort listener is removed when the timer fires, so neither outlives the sleep.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const onAbort = () => { clearTimeout(timer); resolve(); };
    const timer = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve(); }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
