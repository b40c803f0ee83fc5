/** Offset-commit metadata: when the offset was committed, so lag tools can tell an idle group from a stuck one. */
export function commitMetadata(now = Date.now()): string {
  return JSON.stringify({ committedAt: now });
}

/** The commit time written by `commitMetadata`, or null (no metadata, or written by another client). */
export function committedAtFromMetadata(metadata: string | null | undefined): number | null {
  if (!metadata) return null;
  try {
    const v = (JSON.parse(metadata) as { committedAt?: unknown }).committedAt;
    return typeof v === 'number' && Number.isFinite(v) ? v : null;
  } catch {
    return null;
  }
}
