import { describe, expect, it } from 'vitest';
import { slotRange } from '../src/embedded/cluster-create.js';
import { SLOT_COUNT } from '../src/redis/slots.js';

describe('slotRange', () => {
  it('has 16384 slots', () => {
    expect(SLOT_COUNT).toBe(16384);
  });

  for (let primaries = 1; primaries <= 10; primaries++) {
    it(`covers 0..16383 exactly once, contiguously and near-evenly, with ${primaries} primaries`, () => {
      const ranges = Array.from({ length: primaries }, (_, i) => slotRange(i, primaries));
      const owners = new Array<number>(SLOT_COUNT).fill(0);
      for (const [from, to] of ranges) {
        expect(from).toBeLessThanOrEqual(to);
        for (let s = from; s <= to; s++) owners[s]!++;
      }
      expect(owners.every((n) => n === 1)).toBe(true);
      expect(ranges[0]![0]).toBe(0);
      expect(ranges.at(-1)![1]).toBe(SLOT_COUNT - 1);
      for (let i = 1; i < primaries; i++) expect(ranges[i]![0]).toBe(ranges[i - 1]![1] + 1);
      const sizes = ranges.map(([from, to]) => to - from + 1);
      expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
      expect(sizes.reduce((a, b) => a + b, 0)).toBe(SLOT_COUNT);
    });
  }

  it('splits 3 primaries as redis-cli does', () => {
    expect([0, 1, 2].map((i) => slotRange(i, 3))).toEqual([
      [0, 5460],
      [5461, 10922],
      [10923, 16383],
    ]);
  });
});
