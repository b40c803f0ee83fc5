/**
 * A token bucket: holds up to `capacity`, refilled continuously at `capacity` per `periodMs`. Pure:
 * the caller passes the clock. `charge` may take it below zero (a debt): usage known only after the
 * fact (tokens of a finished completion) is still paid, and the next request waits for the refill.
 */
export class TokenBucket {
  private level: number;
  private last: number;
  private readonly ratePerMs: number;
  readonly capacity: number;

  constructor(capacity: number, periodMs: number, now: number) {
    this.capacity = capacity;
    this.ratePerMs = capacity / periodMs;
    this.level = capacity;
    this.last = now;
  }

  /** Takes `n` if available; else says how long until it would be. */
  take(n: number, now: number): { ok: true } | { ok: false; retryAfterMs: number } {
    this.refill(now);
    if (this.level >= n) {
      this.level -= n;
      return { ok: true };
    }
    return { ok: false, retryAfterMs: Math.ceil((n - this.level) / this.ratePerMs) };
  }

  /** Whether anything is left (a bucket in debt refuses until it is positive again). */
  check(now: number): { ok: true } | { ok: false; retryAfterMs: number } {
    this.refill(now);
    if (this.level > 0) return { ok: true };
    return { ok: false, retryAfterMs: Math.max(1, Math.ceil((1 - this.level) / this.ratePerMs)) };
  }

  /** Pays `n` after the fact; the debt is capped at one full bucket. */
  charge(n: number, now: number): void {
    this.refill(now);
    this.level = Math.max(-this.capacity, this.level - n);
  }

  available(now: number): number {
    this.refill(now);
    return this.level;
  }

  private refill(now: number): void {
    if (now > this.last) {
      this.level = Math.min(this.capacity, this.level + (now - this.last) * this.ratePerMs);
      this.last = now;
    }
  }
}
