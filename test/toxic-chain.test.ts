import { describe, expect, it } from 'vitest';
import { ChainState, runChain, type ActiveToxic } from '../src/chaos/proxy/toxic-chain.js';
import { parseToxic, type ToxicInput } from '../src/chaos/proxy/toxic.js';

const active = (t: ToxicInput): ActiveToxic => ({ toxic: parseToxic(t), bytes: 0, resets: 0 });
const bytes = (n: number) => Buffer.alloc(n, 'x');
/** A repeatable stand-in for Math.random. */
function seeded(seed = 1): () => number {
  let s = seed;
  return () => ((s = (s * 16807) % 2147483647) - 1) / 2147483646;
}

describe('runChain', () => {
  it('without toxics passes the chunk as it is, due now', () => {
    const chunk = bytes(10);
    expect(runChain([], chunk, 5, new ChainState())).toEqual({ pieces: [{ data: chunk, due: 5 }], close: false });
  });

  it('latency with jitter: due times never go back, and stay within ms ± jitter of arrival or after the previous', () => {
    const lat = active({ name: 'l', type: 'latency', ms: 20, jitterMs: 20 });
    const state = new ChainState();
    const random = seeded();
    let last = -Infinity;
    for (let now = 0; now < 200; now++) {
      const [p] = runChain([lat], bytes(1), now, state, random).pieces;
      expect(p!.due).toBeGreaterThanOrEqual(last);
      expect(p!.due).toBeLessThanOrEqual(Math.max(last, now + 40));
      expect(p!.due).toBeGreaterThanOrEqual(now);
      last = p!.due;
    }
    expect(lat.bytes).toBe(200);
  });

  it('bandwidth: pieces of 100 ms each, the last due when the whole chunk has crossed the wire', () => {
    const bw = active({ name: 'b', type: 'bandwidth', kbps: 10 });
    const state = new ChainState();
    const { pieces } = runChain([bw], bytes(2500), 0, state);
    expect(pieces.map((p) => [p.data.length, p.due])).toEqual([
      [1000, 100],
      [1000, 200],
      [500, 250],
    ]);
    // The wire is still busy for a chunk that arrives before it is free.
    expect(runChain([bw], bytes(100), 100, state).pieces[0]!.due).toBe(260);
  });

  it('slicer: small pieces, in order, delayUs apart, the bytes untouched', () => {
    const sl = active({ name: 's', type: 'slicer', averageSize: 10, sizeVariation: 5, delayUs: 500 });
    const chunk = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 251));
    const { pieces } = runChain([sl], chunk, 0, new ChainState(), seeded());
    expect(Buffer.concat(pieces.map((p) => p.data))).toEqual(chunk);
    expect(pieces.length).toBeGreaterThan(60);
    for (const [i, p] of pieces.entries()) {
      expect(p.data.length).toBeGreaterThanOrEqual(5);
      expect(p.data.length).toBeLessThanOrEqual(15);
      expect(p.due).toBeCloseTo(i * 0.5);
    }
  });

  it('blackhole drops the chunk and counts it; toxics after it see nothing', () => {
    const hole = active({ name: 'h', type: 'blackhole' });
    const lat = active({ name: 'l', type: 'latency', ms: 5 });
    expect(runChain([hole, lat], bytes(7), 0, new ChainState())).toEqual({ pieces: [], close: false });
    expect([hole.bytes, lat.bytes]).toEqual([7, 0]);
  });

  it('limit_data lets through exactly its bytes over several chunks, then asks to close', () => {
    const cap = active({ name: 'c', type: 'limit_data', bytes: 10 });
    const state = new ChainState();
    expect(runChain([cap], bytes(6), 0, state)).toMatchObject({ close: false });
    const second = runChain([cap], bytes(6), 0, state);
    expect(second.close).toBe(true);
    expect(second.pieces.map((p) => p.data.length)).toEqual([4]);
    expect(runChain([cap], bytes(1), 0, state)).toEqual({ pieces: [], close: true });
    expect(cap.bytes).toBe(10);
  });

  it('reset_peer does nothing to bytes', () => {
    const rst = active({ name: 'r', type: 'reset_peer' });
    expect(runChain([rst], bytes(3), 1, new ChainState()).pieces).toHaveLength(1);
  });

  it('state is per toxic object: the same name added again starts afresh', () => {
    const state = new ChainState();
    const first = active({ name: 'c', type: 'limit_data', bytes: 5 });
    expect(runChain([first], bytes(5), 0, state).close).toBe(true);
    const again = active({ name: 'c', type: 'limit_data', bytes: 5 });
    expect(runChain([again], bytes(3), 0, state)).toMatchObject({ close: false });
  });
});
