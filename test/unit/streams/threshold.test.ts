import { describe, expect, it } from 'vitest';
import { decideTrigger, MAX_SETTLE_FACTOR, type TriggerClock } from '../../../streams/threshold/threshold.ts';

const T0 = 1_700_000_000_000;

/** A dataset with 10 items pending at a threshold of 10, the last one (and the crossing) at T0, never fired. */
function clock(over: Partial<TriggerClock> = {}): TriggerClock {
  return {
    pending: 10, threshold: 10, cooldownMs: 0, settleMs: 1000,
    lastFiredAtMs: null, lastItemAtMs: T0, crossedAtMs: T0, nowMs: T0, ...over,
  };
}

describe('decideTrigger: the threshold', () => {
  it('never fires one item below the threshold, however long the stream has been quiet', () => {
    for (const nowMs of [T0, T0 + 1000, T0 + 3600_000 * 24 * 365]) {
      expect(decideTrigger(clock({ pending: 9, crossedAtMs: null, nowMs }))).toEqual({ fire: false, reason: 'below-threshold' });
    }
  });

  it('below the threshold wins over a cooldown and over a stream that has settled', () => {
    expect(decideTrigger(clock({ pending: 0, lastFiredAtMs: T0, cooldownMs: 60_000, nowMs: T0 + 1 }))).toEqual({ fire: false, reason: 'below-threshold' });
  });

  it('fires at exactly the threshold once the stream has settled', () => {
    expect(decideTrigger(clock({ pending: 10, nowMs: T0 + 1000 }))).toEqual({ fire: true, reason: 'settled' });
  });

  it('fires over the threshold too (a burst that crossed it several times over is one window)', () => {
    expect(decideTrigger(clock({ pending: 35, nowMs: T0 + 5000 }))).toEqual({ fire: true, reason: 'settled' });
  });

  it('a threshold of 1 fires on the first item', () => {
    expect(decideTrigger(clock({ pending: 1, threshold: 1, nowMs: T0 + 1000 }))).toEqual({ fire: true, reason: 'settled' });
    expect(decideTrigger(clock({ pending: 0, threshold: 1, nowMs: T0 + 1000 })).fire).toBe(false);
  });
});

describe('decideTrigger: the cooldown', () => {
  const fired = T0 - 10_000; // the last window, 10 s before the last item

  it('holds until exactly the cooldown end and says when to look again', () => {
    const c = { lastFiredAtMs: fired, cooldownMs: 60_000 };
    expect(decideTrigger(clock({ ...c, nowMs: T0 + 5000 }))).toEqual({ fire: false, reason: 'cooldown', retryAtMs: fired + 60_000 });
    expect(decideTrigger(clock({ ...c, nowMs: fired + 60_000 - 1 }))).toEqual({ fire: false, reason: 'cooldown', retryAtMs: fired + 60_000 });
    expect(decideTrigger(clock({ ...c, nowMs: fired + 60_000 }))).toEqual({ fire: true, reason: 'settled' });
  });

  it('at the cooldown end a stream that is still busy settles first', () => {
    const end = fired + 60_000;
    // an item 200 ms before the cooldown's end: the quiet period runs until 800 ms after it
    const d = decideTrigger(clock({ lastFiredAtMs: fired, cooldownMs: 60_000, lastItemAtMs: end - 200, nowMs: end }));
    expect(d).toEqual({ fire: false, reason: 'settling', retryAtMs: end + 800 });
  });

  it('a cooldown of 0 never holds', () => {
    expect(decideTrigger(clock({ lastFiredAtMs: T0, cooldownMs: 0, nowMs: T0 + 1000 }))).toEqual({ fire: true, reason: 'settled' });
  });

  it('a dataset that never fired has no cooldown', () => {
    expect(decideTrigger(clock({ lastFiredAtMs: null, cooldownMs: 3600_000, nowMs: T0 + 1000 }))).toEqual({ fire: true, reason: 'settled' });
  });
});

describe('decideTrigger: settling', () => {
  it('waits for settleMs of quiet after the last item and says when that is', () => {
    expect(decideTrigger(clock({ nowMs: T0 }))).toEqual({ fire: false, reason: 'settling', retryAtMs: T0 + 1000 });
    expect(decideTrigger(clock({ nowMs: T0 + 999 }))).toEqual({ fire: false, reason: 'settling', retryAtMs: T0 + 1000 });
    expect(decideTrigger(clock({ nowMs: T0 + 1000 }))).toEqual({ fire: true, reason: 'settled' });
  });

  it('a new item resets the quiet period', () => {
    // the crossing at T0, another item at T0 + 900: at T0 + 1000 it is not settled any more
    const d = decideTrigger(clock({ pending: 11, lastItemAtMs: T0 + 900, nowMs: T0 + 1000 }));
    expect(d).toEqual({ fire: false, reason: 'settling', retryAtMs: T0 + 1900 });
    expect(decideTrigger(clock({ pending: 11, lastItemAtMs: T0 + 900, nowMs: T0 + 1899 })).fire).toBe(false);
    expect(decideTrigger(clock({ pending: 11, lastItemAtMs: T0 + 900, nowMs: T0 + 1900 }))).toEqual({ fire: true, reason: 'settled' });
  });

  it('looking again at retryAtMs with no new item fires', () => {
    let c = clock({ pending: 12, lastItemAtMs: T0 + 400, nowMs: T0 + 500, lastFiredAtMs: T0 - 500, cooldownMs: 2000 });
    const seen: string[] = [];
    for (let i = 0; i < 5; i++) {
      const d = decideTrigger(c);
      seen.push(d.reason);
      if (d.fire) break;
      if (d.reason === 'below-threshold') throw new Error('below the threshold');
      expect(d.retryAtMs).toBeGreaterThan(c.nowMs);
      c = { ...c, nowMs: d.retryAtMs };
    }
    // cooldown until T0 + 1500, then settled (the last item at T0 + 400 is over 1000 ms old)
    expect(seen).toEqual(['cooldown', 'settled']);
  });

  it('with no item time recorded, the quiet period starts now', () => {
    expect(decideTrigger(clock({ lastItemAtMs: null, crossedAtMs: null, nowMs: T0 }))).toEqual({ fire: false, reason: 'settling', retryAtMs: T0 + 1000 });
  });

  it('settleMs 0 fires at once, even on an item that arrived this very millisecond', () => {
    expect(decideTrigger(clock({ settleMs: 0, lastItemAtMs: T0, nowMs: T0 }))).toEqual({ fire: true, reason: 'settled' });
  });
});

describe('decideTrigger: the max-wait bound under a steady stream', () => {
  const settleMs = 1000;
  const bound = settleMs * MAX_SETTLE_FACTOR;

  /** An item every 100 ms since the crossing at T0: never quiet for settleMs. */
  const steady = (nowMs: number, over: Partial<TriggerClock> = {}) => decideTrigger(clock({ settleMs, pending: 50, lastItemAtMs: nowMs - 100, nowMs, ...over }));

  it('MAX_SETTLE_FACTOR is 30', () => {
    expect(MAX_SETTLE_FACTOR).toBe(30);
  });

  it(`fires MAX_SETTLE_FACTOR × settleMs after the crossing, not before`, () => {
    // the quiet period would end after the deadline: look again at the deadline
    expect(steady(T0 + bound - 1)).toEqual({ fire: false, reason: 'settling', retryAtMs: T0 + bound });
    expect(steady(T0 + bound)).toEqual({ fire: true, reason: 'max-wait' });
    expect(steady(T0 + bound + 5000)).toEqual({ fire: true, reason: 'max-wait' });
  });

  it('before the deadline, retryAtMs is the end of the quiet period', () => {
    expect(steady(T0 + 10_000)).toEqual({ fire: false, reason: 'settling', retryAtMs: T0 + 10_000 - 100 + settleMs });
  });

  it('counts from the cooldown end when that is later than the crossing', () => {
    const fired = T0 - 5000;
    const cooldownMs = 60_000; // ends at T0 + 55 s, long after the crossing at T0
    const end = fired + cooldownMs;
    const c = { lastFiredAtMs: fired, cooldownMs };
    expect(steady(T0 + bound, c).fire).toBe(false); // 30 s after the crossing: still in the cooldown
    expect(steady(end, c)).toMatchObject({ fire: false, reason: 'settling' });
    expect(steady(end + bound - 1, c)).toMatchObject({ fire: false, reason: 'settling' });
    expect(steady(end + bound, c)).toEqual({ fire: true, reason: 'max-wait' });
  });

  it('counts from the crossing when that is later than the cooldown end', () => {
    const crossedAtMs = T0 + 100_000;
    const c = { lastFiredAtMs: T0, cooldownMs: 10_000, crossedAtMs };
    expect(steady(crossedAtMs + bound - 1, c)).toMatchObject({ fire: false, reason: 'settling' });
    expect(steady(crossedAtMs + bound, c)).toEqual({ fire: true, reason: 'max-wait' });
  });

  it('a quiet stream fires as settled before the bound', () => {
    expect(decideTrigger(clock({ settleMs, pending: 50, lastItemAtMs: T0 + 5000, nowMs: T0 + 6000 }))).toEqual({ fire: true, reason: 'settled' });
  });
});
