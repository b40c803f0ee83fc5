import type { LagStatus } from './status.ts';

/**
 * Burrow's consumer-lag evaluation, for one partition of one group, over a sliding window of offset
 * snapshots (oldest first). Pure: the caller takes the snapshots and says what time it is.
 *
 * The rules, in Burrow's order (linkedin/Burrow, "Consumer Lag Evaluation Rules"):
 *   - lag is 0 now (caught up, or an idle partition whose committed offset equals the end): OK
 *   - the committed offset went backwards within the window and has not recovered: REWIND
 *   - lag was 0 at some snapshot of the window (the consumer keeps up; new records just arrived): OK
 *   - the last commit is older than the window's span (the consumer stopped committing): STOP
 *   - the committed offset did not change across the whole window while there is lag: STALL
 *   - offsets advance but the lag never decreased across the whole window (slow consumer): WARN
 *   - otherwise: OK
 * STALL and WARN describe a trend, so they need a full window; REWIND needs two snapshots; STOP
 * needs one (a consumer that died an hour ago is STOP as soon as the monitor looks).
 * When the log cannot say when a group committed (committedAt null), the last commit is taken to be
 * the snapshot at which the committed offset was last seen to move; a group whose offset never moved
 * within the window is then STALL rather than STOP (the two cannot be told apart without commit times).
 */

export interface OffsetSnapshot {
  /** When the snapshot was taken (ms since epoch). */
  at: number;
  /** The group's committed offset: the next offset it will read. */
  committed: number;
  /** When the group last committed, as the log reports it; null when the log doesn't know. */
  committedAt: number | null;
  /** The partition's high watermark (next offset to be written) at `at`. */
  end: number;
}

export interface LagRules {
  /** Snapshots per window (Burrow's storage `intervals`). */
  windowSize: number;
  /** Time between snapshots (ms). The window spans (windowSize - 1) × intervalMs. */
  intervalMs: number;
}

export interface PartitionVerdict {
  status: LagStatus;
  /** Current lag in records. */
  lag: number;
  /** One line saying why, for operators. */
  reason: string;
  /** Fraction of the window that is filled (Burrow's "complete"). */
  complete: number;
}

export const lagOf = (s: OffsetSnapshot): number => Math.max(0, s.end - s.committed);

const secs = (ms: number): string => `${Math.round(ms / 1000)} s`;

export function evaluatePartition(window: readonly OffsetSnapshot[], now: number, rules: LagRules): PartitionVerdict {
  const n = window.length;
  const complete = Math.min(1, n / rules.windowSize);
  const current = window[n - 1];
  if (!current) return { status: 'OK', lag: 0, reason: 'no snapshot yet', complete };
  const lag = lagOf(current);
  const verdict = (status: LagStatus, reason: string): PartitionVerdict => ({ status, lag, reason, complete });

  if (lag === 0) {
    const idle = n > 1 && window.every((s) => s.end === current.end);
    return verdict('OK', idle ? `idle: caught up at offset ${current.committed}, nothing new` : `caught up at offset ${current.committed}`);
  }

  const offsets = window.map((s) => s.committed);
  const peak = Math.max(...offsets);
  for (let i = 1; i < n; i++) {
    if (offsets[i]! < offsets[i - 1]! && current.committed < peak) {
      return verdict('REWIND', `committed offset went back from ${offsets[i - 1]} to ${offsets[i]} and is at ${current.committed}, below ${peak}`);
    }
  }

  const caughtUp = window.findLast((s) => lagOf(s) === 0);
  if (caughtUp) return verdict('OK', `lag ${lag}, but caught up ${secs(now - caughtUp.at)} ago within the window`);

  const span = Math.max((rules.windowSize - 1) * rules.intervalMs, current.at - window[0]!.at);
  const lastCommit = current.committedAt ?? lastMove(window);
  if (lastCommit !== null && now - lastCommit > span) {
    return verdict('STOP', `no commit for ${secs(now - lastCommit)} (window ${secs(span)}) while ${lag} records wait`);
  }

  if (n < rules.windowSize) return verdict('OK', `lag ${lag}; window ${n}/${rules.windowSize}, too short to judge a trend`);

  if (offsets.every((o) => o === current.committed)) {
    return verdict('STALL', `committed offset ${current.committed} did not move for ${secs(current.at - window[0]!.at)} while ${lag} records wait`);
  }

  const lags = window.map(lagOf);
  let decreased = false;
  for (let i = 1; i < n && !decreased; i++) if (lags[i]! < lags[i - 1]!) decreased = true;
  if (!decreased) {
    return verdict('WARN', `consuming, but lag never decreased over ${secs(current.at - window[0]!.at)} (${lags[0]} → ${lag})`);
  }
  return verdict('OK', `consuming: lag ${lag}, decreasing within the window`);
}

/** Snapshot time at which the committed offset was last seen to change; null if it never changed in the window. */
function lastMove(window: readonly OffsetSnapshot[]): number | null {
  for (let i = window.length - 1; i > 0; i--) {
    if (window[i]!.committed !== window[i - 1]!.committed) return window[i]!.at;
  }
  return null;
}
