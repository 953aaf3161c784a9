import { describe, expect, it } from 'vitest';
import { workerNodeFlags } from '../src/embedded/worker-heap.js';

describe('worker heap flags', () => {
  it('a smaller young generation, a growth factor of 2 and no pretenuring, by default', () => {
    expect(workerNodeFlags(undefined, 8)).toEqual([
      '--max-semi-space-size=8',
      '--heap-growing-percent=100',
      '--no-allocation-site-pretenuring',
    ]);
    expect(workerNodeFlags('--enable-source-maps', 8)).toEqual([
      '--max-semi-space-size=8',
      '--heap-growing-percent=100',
      '--no-allocation-site-pretenuring',
    ]);
  });

  it('on a machine of 1 or 2 cores, also collections in the worker thread only', () => {
    expect(workerNodeFlags(undefined, 2)).toEqual([
      '--max-semi-space-size=8',
      '--heap-growing-percent=100',
      '--no-allocation-site-pretenuring',
      '--single-threaded-gc',
    ]);
    expect(workerNodeFlags(undefined, 1)).toContain('--single-threaded-gc');
    expect(workerNodeFlags(undefined, 3)).not.toContain('--single-threaded-gc');
  });

  it('leaves out a flag the user set in NODE_OPTIONS, in either spelling', () => {
    const nopt = '--no-allocation-site-pretenuring';
    expect(workerNodeFlags('--heap-growing-percent=0', 8)).toEqual(['--max-semi-space-size=8', nopt]);
    expect(workerNodeFlags('--enable-source-maps  --max_semi_space_size=16', 8)).toEqual([
      '--heap-growing-percent=100',
      nopt,
    ]);
    expect(
      workerNodeFlags('--max-semi-space-size=16 --heap-growing-percent=0 --allocation-site-pretenuring', 8),
    ).toEqual([]);
    expect(workerNodeFlags('--no-single-threaded-gc', 2)).toEqual([
      '--max-semi-space-size=8',
      '--heap-growing-percent=100',
      nopt,
    ]);
    expect(workerNodeFlags('--single_threaded_gc', 2)).toEqual([
      '--max-semi-space-size=8',
      '--heap-growing-percent=100',
      nopt,
    ]);
  });
});
