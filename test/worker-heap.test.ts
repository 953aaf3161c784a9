import { describe, expect, it } from 'vitest';
import { workerNodeFlags } from '../src/pipeline/worker-heap.js';

describe('worker heap flags', () => {
  it('a smaller young generation and a growth factor of 2, by default', () => {
    expect(workerNodeFlags(undefined)).toEqual(['--max-semi-space-size=8', '--heap-growing-percent=100']);
    expect(workerNodeFlags('--enable-source-maps')).toEqual(['--max-semi-space-size=8', '--heap-growing-percent=100']);
  });

  it('leaves out a flag the user set in NODE_OPTIONS, in either spelling', () => {
    expect(workerNodeFlags('--heap-growing-percent=0')).toEqual(['--max-semi-space-size=8']);
    expect(workerNodeFlags('--enable-source-maps  --max_semi_space_size=16')).toEqual(['--heap-growing-percent=100']);
    expect(workerNodeFlags('--max-semi-space-size=16 --heap-growing-percent=0')).toEqual([]);
  });
});
