import { describe, expect, it } from 'vitest';
import { BatchQueue } from '../src/pipeline/batch-queue.js';

describe('BatchQueue', () => {
  it('gives every item once, in order, across compactions and interleaved pushes', () => {
    const q = new BatchQueue<number>();
    const out: number[] = [];
    let next = 0;
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 997; i++) q.push(next++);
      out.push(...q.take(100 + round * 7));
      expect(q.length).toBe(next - out.length);
    }
    out.push(...q.takeAll());
    expect(q.length).toBe(0);
    expect(out).toEqual(Array.from({ length: next }, (_, i) => i));
    expect(q.take(10)).toEqual([]);
  });

  it('takes at most what it holds', () => {
    const q = new BatchQueue<string>();
    q.push('a');
    q.push('b');
    expect(q.take(5)).toEqual(['a', 'b']);
    expect(q.length).toBe(0);
  });
});
