import { describe, expect, it } from 'vitest';
import type { FaultOutcome } from '../src/chaos/inject.js';
import { splitBrain } from '../src/chaos/scenario/split-brain.js';

const partition = (o: Partial<FaultOutcome> = {}): FaultOutcome => ({
  id: 'partition-1',
  kind: 'partition',
  target: { type: 'node', address: '127.0.0.1:7001', host: '127.0.0.1', port: 7001, role: 'primary' },
  params: {},
  durationMs: 15_000,
  applied: 'cut off',
  seen: true,
  seenAfterMs: 2800,
  reverted:
    'table inet t deleted; 6 nodes up, cluster ok, 3 primaries; 127.0.0.1:7001 rejoined as a replica of 127.0.0.1:7004',
  totalMs: 17_000,
  ...o,
});

const start = 1_000_000;
const timeline = [
  { atMs: 0, kind: 'load' as const, text: 'load' },
  { atMs: 15_000, kind: 'fault' as const, text: 'partition at 15s for 15s' },
];

describe('splitBrain', () => {
  it('gives the cut, the detection, the heal, the rejoin and when the lost writes were sent, relative to the cut', () => {
    const b = splitBrain({
      timeline,
      faults: [partition()],
      lost: 1200,
      lostSpan: { seqs: [10, 900], after: start + 15_100, before: start + 17_900 },
      startMs: start,
      durable: false,
    });
    expect(b).toEqual({
      node: '127.0.0.1:7001',
      cutAtMs: 15_000,
      seenAfterMs: 2800,
      healedAtMs: 30_000,
      rejoined: '127.0.0.1:7001 rejoined as a replica of 127.0.0.1:7004',
      durable: false,
      lost: 1200,
      lostSentMs: [100, 2900],
    });
  });

  it('nothing lost: no window; a partition never seen has no detection time', () => {
    const b = splitBrain({
      timeline,
      faults: [partition({ seen: false, seenAfterMs: undefined })],
      lost: 0,
      lostSpan: undefined,
      startMs: start,
      durable: true,
    });
    expect(b).toMatchObject({ seenAfterMs: undefined, lostSentMs: undefined, lost: 0, durable: true });
  });

  it('no partition in the run, or one that could not be applied: no account', () => {
    const base = { timeline, lost: 0, lostSpan: undefined, startMs: start, durable: false };
    expect(splitBrain({ ...base, faults: [{ ...partition(), kind: 'kill-node' }] })).toBeUndefined();
    expect(splitBrain({ ...base, faults: [{ kind: 'partition', error: 'NO_CGROUPS' }] })).toBeUndefined();
  });
});
