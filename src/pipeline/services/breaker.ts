export type BreakerState = 'closed' | 'open' | 'half-open';

export interface BreakerOptions {
  /** Consecutive failures that open the breaker. */
  failures: number;
  /** How long it stays open before letting one probe through. */
  openMs: number;
  /** The clock (default Date.now). */
  now?: () => number;
}

/**
 * A circuit breaker: after `failures` consecutive failures it opens and callers skip the protected
 * call; after `openMs` one probe is let through (half-open), whose outcome closes or reopens it.
 */
export class CircuitBreaker {
  private state_: BreakerState = 'closed';
  private consecutive = 0;
  private openedAt = 0;
  private probing = false;
  /** Times it opened, for metrics. */
  opened = 0;

  constructor(private readonly o: BreakerOptions) {}

  private now(): number {
    return (this.o.now ?? Date.now)();
  }

  get state(): BreakerState {
    if (this.state_ === 'open' && this.now() - this.openedAt >= this.o.openMs) this.state_ = 'half-open';
    return this.state_;
  }

  /** Whether a call may go through now (in half-open, only one probe at a time). */
  allow(): boolean {
    const s = this.state;
    if (s === 'closed') return true;
    if (s === 'half-open' && !this.probing) {
      this.probing = true;
      return true;
    }
    return false;
  }

  success(): void {
    this.probing = false;
    this.consecutive = 0;
    this.state_ = 'closed';
  }

  failure(): void {
    this.probing = false;
    this.consecutive++;
    if (this.state_ === 'half-open' || this.consecutive >= this.o.failures) {
      if (this.state_ !== 'open') this.opened++;
      this.state_ = 'open';
      this.openedAt = this.now();
    }
  }
}
