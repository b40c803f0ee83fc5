/**
 * When the fine-tune trigger fires: pure rules over a dataset's counters and clocks.
 *
 *  - below the threshold: never.
 *  - within the cooldown after the last window: not yet (at the cooldown's end, if still due).
 *  - at or over the threshold: once the stream has settled — no new item for `settleMs` — so a burst
 *    that crosses the threshold several times over opens one window, not one per `threshold` items.
 *    Under a steady stream that never settles, it fires `settleMs × MAX_SETTLE_FACTOR` after the
 *    crossing anyway, so a busy dataset is still trained.
 */

export const MAX_SETTLE_FACTOR = 30;

export interface TriggerClock {
  /** Net-new items since the last window. */
  pending: number;
  threshold: number;
  cooldownMs: number;
  settleMs: number;
  /** When the last window opened (null: never). */
  lastFiredAtMs: number | null;
  /** When the last counted item arrived. */
  lastItemAtMs: number | null;
  /** When `pending` reached the threshold (null: it has not). */
  crossedAtMs: number | null;
  nowMs: number;
}

export type TriggerDecision =
  | { fire: true; reason: 'settled' | 'max-wait' }
  | { fire: false; reason: 'below-threshold' }
  | { fire: false; reason: 'cooldown' | 'settling'; retryAtMs: number };

export function decideTrigger(c: TriggerClock): TriggerDecision {
  if (c.pending < c.threshold) return { fire: false, reason: 'below-threshold' };
  if (c.lastFiredAtMs !== null && c.nowMs < c.lastFiredAtMs + c.cooldownMs) {
    return { fire: false, reason: 'cooldown', retryAtMs: c.lastFiredAtMs + c.cooldownMs };
  }
  const quietSince = c.lastItemAtMs ?? c.nowMs;
  if (c.nowMs - quietSince >= c.settleMs) return { fire: true, reason: 'settled' };
  const crossed = c.crossedAtMs ?? c.nowMs;
  // the steady-stream bound counts from the crossing, or from the cooldown's end when that came later
  const since = Math.max(crossed, c.lastFiredAtMs === null ? 0 : c.lastFiredAtMs + c.cooldownMs);
  const deadline = since + c.settleMs * MAX_SETTLE_FACTOR;
  if (c.nowMs >= deadline) return { fire: true, reason: 'max-wait' };
  return { fire: false, reason: 'settling', retryAtMs: Math.min(quietSince + c.settleMs, deadline) };
}
