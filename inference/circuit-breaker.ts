/**
 * Passive ejection of a failing upstream. Pure: the caller passes the clock.
 *
 *   closed ──(failureThreshold consecutive failures)──► open ──(openMs elapsed)──► half-open
 *   half-open ──(probe succeeds)──► closed        half-open ──(probe fails)──► open (twice as long, up to maxOpenMs)
 *
 * In half-open at most `halfOpenProbes` requests (or active health checks) are let through.
 */
export interface CircuitBreakerOptions {
  failureThreshold: number;
  openMs: number;
  maxOpenMs: number;
  halfOpenProbes?: number;
}

export type BreakerState = 'closed' | 'open' | 'half-open';

/** What a report changed, so the caller can log and count ejections and recoveries. */
export type BreakerTransition = 'ejected' | 'recovered' | null;

export class CircuitBreaker {
  private readonly o: Required<CircuitBreakerOptions>;
  private s: BreakerState = 'closed';
  private failures = 0;
  private opens = 0;
  private until = 0;
  private probes = 0;

  constructor(options: CircuitBreakerOptions) {
    this.o = { halfOpenProbes: 1, ...options };
  }

  /** The state at `now` (open turns half-open once its time is up). */
  state(now: number): BreakerState {
    if (this.s === 'open' && now >= this.until) {
      this.s = 'half-open';
      this.probes = 0;
    }
    return this.s;
  }

  /** Whether a request may be sent now (in half-open: while probe slots remain). */
  canRoute(now: number): boolean {
    const s = this.state(now);
    return s === 'closed' || (s === 'half-open' && this.probes < this.o.halfOpenProbes);
  }

  /** A request (or health check) was sent; in half-open it takes a probe slot. Returns true if it is a probe. */
  onDispatch(now: number): boolean {
    if (this.state(now) !== 'half-open') return false;
    this.probes++;
    return true;
  }

  /** A probe ended without a verdict (e.g. the client went away): give its slot back. */
  onProbeCancelled(): void {
    if (this.s === 'half-open' && this.probes > 0) this.probes--;
  }

  onSuccess(now: number): BreakerTransition {
    const s = this.state(now);
    this.failures = 0;
    if (s === 'closed') return null;
    if (s === 'open') return null; // a late success from before the ejection: the cool-down still runs
    this.s = 'closed';
    this.opens = 0;
    this.probes = 0;
    return 'recovered';
  }

  onFailure(now: number): BreakerTransition {
    const s = this.state(now);
    if (s === 'open') return null;
    if (s === 'closed') {
      this.failures++;
      if (this.failures < this.o.failureThreshold) return null;
    }
    this.open(now);
    return 'ejected';
  }

  /** Milliseconds until it may be tried again (0 unless open). */
  retryAfterMs(now: number): number {
    return this.state(now) === 'open' ? this.until - now : 0;
  }

  /** How long the current (or next) ejection lasts. */
  get openForMs(): number {
    return Math.min(this.o.maxOpenMs, this.o.openMs * 2 ** Math.max(0, this.opens - 1));
  }

  private open(now: number): void {
    this.opens++;
    this.s = 'open';
    this.failures = 0;
    this.probes = 0;
    this.until = now + this.openForMs;
  }
}
