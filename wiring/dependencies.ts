import { findTributaryError } from '../ports/errors.ts';
import type { DependencyStatus } from '../api/context.ts';

/** How long one readiness check may take before the dependency counts as down. */
export const DEPENDENCY_CHECK_TIMEOUT_MS = 2_000;

/** Runs one dependency's check (e.g. the index's ping) with a time limit, as a readiness row. */
export async function checkDependency(name: string, kind: string, check: () => Promise<void>, timeoutMs = DEPENDENCY_CHECK_TIMEOUT_MS): Promise<DependencyStatus> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer in ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    await Promise.race([check(), timeout]);
    return { name, kind, ok: true, error: null };
  } catch (e) {
    const te = findTributaryError(e);
    return { name, kind, ok: false, error: te ? `${te.code}: ${te.message}` : (e as Error).message };
  } finally {
    clearTimeout(timer);
  }
}
