import { describe, expect, it } from 'vitest';
import { CircuitBreaker } from '../src/pipeline/services/breaker.js';
import { LruCache } from '../src/pipeline/services/lru.js';

describe('LruCache', () => {
  it('evicts the least recently used entry and expires entries after their TTL', () => {
    let now = 0;
    const c = new LruCache<string>(2, 100, () => now);
    c.set('a', '1');
    c.set('b', '2');
    expect(c.get('a')).toBe('1'); // a is now the most recent
    c.set('c', '3');
    expect(c.get('b')).toBeUndefined();
    expect(c.get('a')).toBe('1');
    now = 150;
    expect(c.get('a')).toBeUndefined();
    expect(c.size).toBe(1);
  });
});

describe('CircuitBreaker', () => {
  it.each([
    { failures: 3, steps: ['f', 'f', 'f'], state: 'open' },
    { failures: 3, steps: ['f', 'f', 's', 'f', 'f'], state: 'closed' },
    { failures: 1, steps: ['f'], state: 'open' },
  ])('$steps with failures=$failures -> $state', ({ failures, steps, state }) => {
    const b = new CircuitBreaker({ failures, openMs: 1000, now: () => 0 });
    for (const s of steps) s === 'f' ? b.failure() : b.success();
    expect(b.state).toBe(state);
  });

  it('lets one probe through when half-open; its success closes, its failure reopens', () => {
    let now = 0;
    const b = new CircuitBreaker({ failures: 1, openMs: 100, now: () => now });
    b.failure();
    expect(b.allow()).toBe(false);
    now = 100;
    expect(b.state).toBe('half-open');
    expect(b.allow()).toBe(true);
    expect(b.allow()).toBe(false); // one probe at a time
    b.failure();
    expect(b.state).toBe('open');
    expect(b.opened).toBe(2);
    now = 200;
    expect(b.allow()).toBe(true);
    b.success();
    expect(b.state).toBe('closed');
    expect(b.allow()).toBe(true);
  });
});
