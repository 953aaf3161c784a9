/** Cumulative counts by bucket upper bound (seconds; Infinity for +Inf), as a Prometheus histogram has them. */
export type Buckets = ReadonlyMap<number, number>;

/** The counts that arrived between two readings, bucket by bucket (a worker that restarted counts from 0 again). */
export function bucketDelta(now: Buckets, before: Buckets | undefined): Map<number, number> {
  const out = new Map<number, number>();
  for (const [le, n] of now) out.set(le, Math.max(0, n - (before?.get(le) ?? 0)));
  return out;
}

/**
 * The `q` quantile (0-1) of cumulative bucket counts, interpolated linearly inside its bucket as
 * Prometheus's histogram_quantile does; undefined with no observation.
 */
export function quantile(q: number, buckets: Buckets): number | undefined {
  const sorted = [...buckets.entries()].sort((a, b) => a[0] - b[0]);
  const total = sorted.at(-1)?.[1] ?? 0;
  if (total <= 0) return undefined;
  const rank = q * total;
  let lowerBound = 0;
  let lowerCount = 0;
  for (const [le, count] of sorted) {
    if (count >= rank) {
      if (le === Infinity) return lowerBound;
      return lowerBound + ((le - lowerBound) * (rank - lowerCount)) / Math.max(1, count - lowerCount);
    }
    lowerBound = le;
    lowerCount = count;
  }
  return lowerBound;
}
