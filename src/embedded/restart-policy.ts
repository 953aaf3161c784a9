import type { RestartPolicy } from '../observe/snapshot.js';

/** How the supervisor paces the restarts of one process. */
export interface RestartLimits {
  /** Delay before the first restart after a crash; doubled after each further crash. */
  initialDelayMs: number;
  maxDelayMs: number;
  /** At most this many restarts within `windowMs`; one more and the supervisor gives up on the process. */
  limit: number;
  windowMs: number;
  /** A process that ran this long before it died starts again from `initialDelayMs`. */
  stableMs: number;
}

/** The defaults of `--restart on-failure`. */
export const RESTART_DEFAULTS: RestartLimits = {
  initialDelayMs: 250,
  maxDelayMs: 10_000,
  limit: 5,
  windowMs: 60_000,
  stableMs: 30_000,
};

/**
 * The restart budget of one supervised process: exponential backoff, reset by a stable run, and a
 * limit so that a process that cannot stay up (a bad config, a full disk) does not restart forever.
 */
export class RestartBudget {
  private restarts: number[] = [];
  private delayMs: number;

  constructor(
    private readonly policy: RestartPolicy,
    private readonly limits: RestartLimits = RESTART_DEFAULTS,
  ) {
    this.delayMs = limits.initialDelayMs;
  }

  /**
   * Called when the process died at `now` after running `ranMs`.
   * @returns the delay before restarting it, or undefined to leave it down (policy `never`, or the limit reached).
   */
  next(now: number, ranMs: number): number | undefined {
    if (this.policy === 'never') return undefined;
    if (ranMs >= this.limits.stableMs) this.delayMs = this.limits.initialDelayMs;
    this.restarts = this.restarts.filter((t) => now - t < this.limits.windowMs);
    if (this.restarts.length >= this.limits.limit) return undefined;
    this.restarts.push(now);
    const delay = this.delayMs;
    this.delayMs = Math.min(this.limits.maxDelayMs, this.delayMs * 2);
    return delay;
  }

  /** After a restart asked for by an operator: the next crash starts from the shortest delay. */
  reset(): void {
    this.restarts = [];
    this.delayMs = this.limits.initialDelayMs;
  }
}
