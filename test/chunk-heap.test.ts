import { describe, expect, it } from 'vitest';
import { ChunkHeap } from '../src/pipeline/stages/cep/chunk-heap.js';

/** A seeded LCG: the same sequence on every run. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

describe('ChunkHeap', () => {
  it('gives back exactly the chunks below each watermark, against a plain list', () => {
    const rnd = random(7);
    const heap = new ChunkHeap();
    const reference = new Map<number, number>();
    let next = 0;
    let watermark = 0;
    for (let round = 0; round < 2000; round++) {
      // Chunk maxima mostly rise with time but arrive out of order, as late events make them.
      for (let k = Math.floor(rnd() * 3); k > 0; k--) {
        const max = watermark + Math.floor(rnd() * 500) - 50;
        heap.add(next, max);
        reference.set(next++, max);
      }
      watermark += Math.floor(rnd() * 40);
      const popped: number[] = [];
      heap.popBelow(watermark, (n) => popped.push(n));
      const expected = [...reference].filter(([, max]) => max < watermark).map(([n]) => n);
      for (const n of expected) reference.delete(n);
      expect(popped.sort((a, b) => a - b)).toEqual(expected.sort((a, b) => a - b));
      expect(heap.size).toBe(reference.size);
    }
  });

  it('clear empties it', () => {
    const heap = new ChunkHeap();
    heap.add(1, 10);
    heap.add(2, 5);
    heap.clear();
    const popped: number[] = [];
    heap.popBelow(Infinity, (n) => popped.push(n));
    expect(popped).toEqual([]);
    expect(heap.size).toBe(0);
  });
});
