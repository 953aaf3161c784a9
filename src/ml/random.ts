/**
 * Seedable randomness for the models in `src/ml/`. Everything a model draws comes from one of these
 * generators, so the same seed and the same data give the same model, byte for byte.
 */
/** A source of uniform numbers in [0, 1), as returned by {@link seededRandom}. */
export type Random = () => number;

/**
 * mulberry32: a small, fast PRNG with 32 bits of state. The synthetic workload draws from it too, so
 * the same seed gives the same events.
 */
export function prng(seed: number): Random {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A seeded generator (mulberry32, shared with the synthetic workload generator): fast, 32 bits of
 * state, good enough for sampling and split points, NOT for anything cryptographic.
 *
 * @param seed - an integer in [0, 2^32); other values are rejected rather than silently folded
 *   onto another seed (mulberry32 keeps only 32 bits, so 2^32 + 1 would behave like 1).
 */
export function seededRandom(seed: number): Random {
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffff_ffff) {
    throw new RangeError(`seed must be an integer in [0, 2^32), got ${seed}`);
  }
  return prng(seed);
}

/** A uniform number in [lo, hi) (hi itself is possible only through rounding when hi - lo is tiny). */
export function uniform(rand: Random, lo: number, hi: number): number {
  return lo + rand() * (hi - lo);
}

/**
 * A uniform integer in [0, n). The generator has 32 bits of resolution, so for n far below 2^32 the
 * bias of the floor is negligible (at most n / 2^32 relative), which is all the models need.
 */
export function intBelow(rand: Random, n: number): number {
  if (!Number.isInteger(n) || n <= 0 || n > 0xffff_ffff)
    throw new RangeError(`n must be an integer in [1, 2^32), got ${n}`);
  return Math.floor(rand() * n);
}

/**
 * `k` distinct indices drawn uniformly from [0, n) (sampling without replacement), in the order drawn.
 *
 * A partial Fisher-Yates shuffle over a virtual identity permutation: only the positions touched are
 * kept in a Map, so the cost is O(k) time and memory however large `n` is. That matters because an
 * Isolation Forest draws a small subsample (256) per tree from a possibly very large training set.
 *
 * @param out - optional destination of length >= k (reused across trees to avoid allocation).
 */
export function sampleWithoutReplacement(rand: Random, n: number, k: number, out?: Int32Array): Int32Array {
  if (!Number.isInteger(n) || n < 0 || n > 0x7fff_ffff)
    throw new RangeError(`n must be an integer in [0, 2^31), got ${n}`);
  if (!Number.isInteger(k) || k < 0 || k > n) throw new RangeError(`k must be an integer in [0, n=${n}], got ${k}`);
  const dest = out ?? new Int32Array(k);
  if (dest.length < k) throw new RangeError(`out has room for ${dest.length} indices, ${k} needed`);
  // swapped.get(p) is the value currently at position p of the virtual permutation (absent = p).
  const swapped = new Map<number, number>();
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(rand() * (n - i));
    const atJ = swapped.get(j) ?? j;
    dest[i] = atJ;
    // Position i is never read again; position j now holds what was at i.
    if (j !== i) swapped.set(j, swapped.get(i) ?? i);
  }
  return dest;
}
