import { describe, expect, it } from 'vitest';
import { evaluatePartition, lagOf, SnapshotWindows, worstStatus, LAG_STATUS_VALUE, type OffsetSnapshot } from '../../../streams/lag/index.ts';

const rules = { windowSize: 10, intervalMs: 5000 };
const T0 = 1_700_000_000_000;

/**
 * A window of snapshots taken every 5 s starting at T0: committed and end offsets per snapshot;
 * committedAt per snapshot (a number, 'fresh' = at the snapshot time, or null).
 */
function win(committed: number[], end: number[], committedAt: Array<number | 'fresh' | null> | number | 'fresh' | null = 'fresh'): OffsetSnapshot[] {
  return committed.map((c, i) => {
    const at = T0 + i * rules.intervalMs;
    const ca = Array.isArray(committedAt) ? committedAt[i]! : committedAt;
    return { at, committed: c, end: end[i]!, committedAt: ca === 'fresh' ? at : ca };
  });
}
const nowAfter = (w: OffsetSnapshot[], ms = 0) => w[w.length - 1]!.at + ms;
const range = (n: number, f: (i: number) => number) => Array.from({ length: n }, (_, i) => f(i));

describe('Burrow lag evaluation', () => {
  it('is OK with no snapshot', () => {
    expect(evaluatePartition([], T0, rules)).toMatchObject({ status: 'OK', lag: 0, complete: 0 });
  });

  it('an idle partition whose committed offset equals the end is OK, however long ago the group committed', () => {
    const w = win(range(10, () => 42), range(10, () => 42), T0 - 24 * 3600_000);
    const v = evaluatePartition(w, nowAfter(w, 60_000), rules);
    expect(v).toMatchObject({ status: 'OK', lag: 0, complete: 1 });
    expect(v.reason).toMatch(/idle/);
  });

  it('an empty partition nobody wrote to is OK', () => {
    const w = win([0, 0], [0, 0], null);
    expect(evaluatePartition(w, nowAfter(w), rules).status).toBe('OK');
  });

  it('a record arriving on an idle partition is OK while the window still saw the group caught up (no false STOP)', () => {
    const committedLongAgo = T0 - 3600_000;
    const w = win(range(10, () => 42), [...range(9, () => 42), 43], committedLongAgo);
    const v = evaluatePartition(w, nowAfter(w), rules);
    expect(v.status).toBe('OK');
    expect(v.lag).toBe(1);
  });

  it('a stalled consumer (commits keep coming, the offset never moves, lag > 0) is STALL', () => {
    const w = win(range(10, () => 100), range(10, (i) => 150 + i * 10), 'fresh');
    const v = evaluatePartition(w, nowAfter(w, 100), rules);
    expect(v).toMatchObject({ status: 'STALL', lag: 140 });
    expect(v.reason).toMatch(/did not move/);
  });

  it('a stalled consumer is STALL even with constant lag and when the log does not report commit times', () => {
    const w = win(range(10, () => 100), range(10, () => 130), null);
    expect(evaluatePartition(w, nowAfter(w, 100), rules).status).toBe('STALL');
  });

  it('a consumer that stopped committing while records wait is STOP once its last commit is older than the window span', () => {
    const lastCommit = T0 - 1000;
    const w = win(range(10, () => 100), range(10, () => 130), lastCommit);
    // span 45 s; last commit 46 s before the last snapshot
    const v = evaluatePartition(w, nowAfter(w), rules);
    expect(v.status).toBe('STOP');
    expect(v.reason).toMatch(/no commit for 46 s/);
  });

  it('a consumer that died long ago is STOP at the very first snapshot', () => {
    const w = win([10], [20], T0 - 10 * 60_000);
    expect(evaluatePartition(w, nowAfter(w), rules)).toMatchObject({ status: 'STOP', lag: 10, complete: 0.1 });
  });

  it('a commit within the window span is not STOP, and a short window cannot be STALL or WARN yet', () => {
    const w = win([100, 100, 100], [130, 140, 150], T0 - 10_000);
    expect(evaluatePartition(w, nowAfter(w), rules)).toMatchObject({ status: 'OK', complete: 0.3 });
  });

  it('STOP is judged before STALL (Burrow order)', () => {
    const w = win(range(10, () => 100), range(10, () => 130), T0 - 120_000);
    expect(evaluatePartition(w, nowAfter(w), rules).status).toBe('STOP');
  });

  it('without commit times, the last observed move of the offset stands for the last commit', () => {
    // moved at snapshot 1 (T0 + 5 s), then nothing: by T0 + 51 s that is 46 s without a commit > 45 s span
    const w = win([90, ...range(9, () => 100)], range(10, () => 130), null);
    expect(evaluatePartition(w, T0 + 51_000, rules).status).toBe('STOP');
    expect(evaluatePartition(w, T0 + 49_000, rules).status).not.toBe('STOP');
  });

  it('a consumer whose offsets advance but whose lag never decreases over the window is WARN', () => {
    const w = win(range(10, (i) => i * 10), range(10, (i) => 5 + i * 12));
    const v = evaluatePartition(w, nowAfter(w), rules);
    expect(v.status).toBe('WARN');
    expect(v.reason).toContain('5 → 23');
  });

  it('constant lag with advancing offsets is WARN too (Burrow: lag not decreasing anywhere)', () => {
    const w = win(range(10, (i) => i * 10), range(10, (i) => 50 + i * 10));
    expect(evaluatePartition(w, nowAfter(w), rules).status).toBe('WARN');
  });

  it('a consumer working down its backlog is OK', () => {
    const w = win(range(10, (i) => i * 20), range(10, (i) => 100 + i * 10));
    expect(lagOf(w[9]!)).toBe(10);
    expect(evaluatePartition(w, nowAfter(w), rules)).toMatchObject({ status: 'OK', complete: 1 });
  });

  it('one decrease anywhere in the window is enough to be OK', () => {
    const lags = [10, 12, 14, 16, 15, 17, 19, 21, 23, 25];
    const w = win(range(10, (i) => i * 10), range(10, (i) => i * 10 + lags[i]!));
    expect(evaluatePartition(w, nowAfter(w), rules).status).toBe('OK');
  });

  it('a committed offset that went backwards is REWIND, even if the group was caught up earlier in the window', () => {
    const w = win([100, 110, 120, 50, 60], [100, 110, 120, 130, 140]);
    const v = evaluatePartition(w, nowAfter(w), rules);
    expect(v.status).toBe('REWIND');
    expect(v.reason).toMatch(/went back from 120 to 50/);
  });

  it('a rewind the consumer has recovered from is judged by the other rules', () => {
    const w = win([100, 110, 50, 130, 140], [100, 120, 130, 140, 150]);
    expect(evaluatePartition(w, nowAfter(w), rules).status).toBe('OK');
  });

  it('uses the observed span when snapshots came slower than the interval', () => {
    // snapshots every 10 s (monitor was busy): span 90 s; a commit 60 s ago is within it
    const w: OffsetSnapshot[] = Array.from({ length: 10 }, (_, i) => ({ at: T0 + i * 10_000, committed: 100, end: 130, committedAt: T0 + 30_000 }));
    expect(evaluatePartition(w, T0 + 90_000, rules).status).toBe('STALL');
  });
});

describe('status order and windows', () => {
  it('orders statuses OK < WARN < REWIND < STALL < STOP', () => {
    expect(worstStatus([])).toBe('OK');
    expect(worstStatus(['OK', 'WARN', 'OK'])).toBe('WARN');
    expect(worstStatus(['STALL', 'REWIND', 'WARN'])).toBe('STALL');
    expect(worstStatus(['OK', 'STOP', 'STALL'])).toBe('STOP');
    expect(Object.values(LAG_STATUS_VALUE)).toEqual([0, 1, 2, 3, 4]);
  });

  it('keeps the last N snapshots per key and forgets keys that went away', () => {
    const ws = new SnapshotWindows(3);
    for (let i = 0; i < 5; i++) ws.push('a', { at: i, committed: i, committedAt: i, end: 10 });
    ws.push('b', { at: 0, committed: 0, committedAt: null, end: 0 });
    expect(ws.get('a').map((s) => s.committed)).toEqual([2, 3, 4]);
    expect(ws.retain(new Set(['b']))).toEqual(['a']);
    expect(ws.get('a')).toEqual([]);
    expect(ws.keys).toEqual(['b']);
    expect(() => new SnapshotWindows(1)).toThrow(RangeError);
  });
});
