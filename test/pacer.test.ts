import { afterEach, describe, expect, it, vi } from 'vitest';
import { sendOpenLoop } from '../src/workload/pacer.js';
import type { Producer } from '../src/pipeline/producer.js';

/**
 * A wall clock made of performance.now(), and Date.now() as its truncation to the millisecond, as
 * the real one is: the machine's own wall clock may step against performance.now() by a millisecond
 * now and then, which would blur what is measured here.
 */
const OFFSET = 1_700_000_000_000.37 - performance.now();
const wall = () => performance.now() + OFFSET;

/** A producer that notes each event's intended time and the time (by `now`) it was handed over. */
function recorder(now: () => number = wall): { producer: Producer; sends: { ts: number; at: number }[] } {
  const sends: { ts: number; at: number }[] = [];
  const producer = {
    send: (_key: string, _data: Buffer, ts: number) => {
      sends.push({ ts, at: now() });
      return sends.length;
    },
    backlog: 0,
    highWater: 1000,
    drain: async () => undefined,
  } as unknown as Producer;
  return { producer, sends };
}

const source = { next: () => ({ key: 'k', data: Buffer.from('{}') }) };

describe('sendOpenLoop', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('dates events on a sub-millisecond schedule: the first one goes at its intended time, wherever in a millisecond it starts', async () => {
    // A virtual clock that moves 1 us per read, so the test does not depend on how busy the
    // machine is: Date.now() is its truncation to the millisecond, performance.now() the same clock.
    const EPOCH = 1_700_000_000_000;
    for (const into of [0.05, 0.25, 0.5, 0.75, 0.95]) {
      let virtual = EPOCH + 1000 + into;
      const read = () => (virtual += 0.001);
      vi.spyOn(Date, 'now').mockImplementation(() => Math.floor(read()));
      vi.spyOn(performance, 'now').mockImplementation(() => read() - EPOCH);
      const { producer, sends } = recorder(() => virtual);
      await sendOpenLoop({ producer, source, rate: 1000, total: 1, signal: new AbortController().signal });
      vi.restoreAllMocks();
      expect(sends).toHaveLength(1);
      // From a truncated Date.now() the event would be dated `into` ms early; from the tick, a few
      // reads of the clock at most.
      const late = sends[0]!.at - sends[0]!.ts;
      expect(late, `started ${into} ms into a millisecond`).toBeGreaterThanOrEqual(0);
      expect(late, `started ${into} ms into a millisecond`).toBeLessThan(0.02);
    }
  });

  it('sends event i at or after start + i / rate, in order, with that time as its timestamp', async () => {
    vi.spyOn(Date, 'now').mockImplementation(() => Math.floor(wall()));
    const { producer, sends } = recorder();
    const n = await sendOpenLoop({ producer, source, rate: 2000, total: 40, signal: new AbortController().signal });
    expect(n).toBe(40);
    const start = sends[0]!.ts;
    sends.forEach((s, i) => {
      expect(s.ts).toBeCloseTo(start + i * 0.5, 6);
      expect(s.at).toBeGreaterThanOrEqual(s.ts);
    });
  });
});
