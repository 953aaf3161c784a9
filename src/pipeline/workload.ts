/** A small, fast, seedable PRNG (mulberry32): the same seed gives the same events. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Workload {
  /** The i-th event's key and body. */
  next(): { key: string; data: Buffer };
}

/** Synthetic metric events from `keys` keys: `{"key":..,"value":..}`. */
export function syntheticWorkload(opts: { keys: number; seed: number }): Workload {
  const rand = prng(opts.seed);
  const names = Array.from({ length: opts.keys }, (_, i) => `key-${i}`);
  return {
    next() {
      const key = names[Math.floor(rand() * names.length)]!;
      const value = Math.round(rand() * 10_000) / 100;
      return { key, data: Buffer.from(`{"key":"${key}","value":${value}}`) };
    },
  };
}
