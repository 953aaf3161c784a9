import { describe, expect, it } from 'vitest';
import { RestartBudget } from '../src/embedded/restart-policy.js';

const limits = { initialDelayMs: 100, maxDelayMs: 800, limit: 3, windowMs: 10_000, stableMs: 5_000 };

describe('RestartBudget', () => {
  it('doubles the delay after each quick crash, up to the maximum', () => {
    const b = new RestartBudget('on-failure', { ...limits, limit: 10 });
    const delays = [0, 1, 2, 3, 4, 5].map((i) => b.next(i * 100, 10));
    expect(delays).toEqual([100, 200, 400, 800, 800, 800]);
  });

  it('gives up after `limit` restarts within the window, and restarts again once they age out', () => {
    const b = new RestartBudget('on-failure', limits);
    expect([b.next(0, 10), b.next(1000, 10), b.next(2000, 10)]).toEqual([100, 200, 400]);
    expect(b.next(3000, 10)).toBeUndefined();
    // The first restart (at 0) is older than the window at 10,500: one is allowed again.
    expect(b.next(10_500, 10)).toBe(800);
  });

  it('starts from the shortest delay after a stable run, or after an operator reset', () => {
    const b = new RestartBudget('on-failure', { ...limits, limit: 10 });
    b.next(0, 10);
    b.next(100, 10);
    expect(b.next(200, 10)).toBe(400);
    expect(b.next(300, 6_000)).toBe(100);
    b.next(400, 10);
    b.reset();
    expect(b.next(500, 10)).toBe(100);
  });

  it('never restarts under policy never', () => {
    expect(new RestartBudget('never', limits).next(0, 60_000)).toBeUndefined();
  });
});
