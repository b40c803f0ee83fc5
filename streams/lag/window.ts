import type { OffsetSnapshot } from './evaluate.ts';

/**
 * Sliding windows of offset snapshots, one per key (group, topic, partition): each push drops the
 * oldest snapshot once the window is full. Data only; the monitor decides when to push.
 */
export class SnapshotWindows {
  readonly size: number;
  private readonly windows = new Map<string, OffsetSnapshot[]>();

  constructor(size: number) {
    if (!Number.isInteger(size) || size < 2) throw new RangeError(`window size must be an integer >= 2, got ${size}`);
    this.size = size;
  }

  push(key: string, snapshot: OffsetSnapshot): readonly OffsetSnapshot[] {
    let w = this.windows.get(key);
    if (!w) this.windows.set(key, (w = []));
    w.push(snapshot);
    if (w.length > this.size) w.splice(0, w.length - this.size);
    return w;
  }

  get(key: string): readonly OffsetSnapshot[] {
    return this.windows.get(key) ?? [];
  }

  /** Forgets every key not in `keep` (a group's offsets were deleted, a partition went away); returns the forgotten keys. */
  retain(keep: ReadonlySet<string>): string[] {
    const gone: string[] = [];
    for (const k of this.windows.keys()) if (!keep.has(k)) gone.push(k);
    for (const k of gone) this.windows.delete(k);
    return gone;
  }

  get keys(): string[] {
    return [...this.windows.keys()];
  }
}
