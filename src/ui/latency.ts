/** Cumulative counts by bucket upper bound (seconds; Infinity for +Inf), as a Prometheus histogram has them. */
export type Buckets = ReadonlyMap<number, number>;

/** One reading of every worker's histogram, by worker. */
export type WorkerBuckets = ReadonlyMap<string, Buckets>;

const total = (b: Buckets) => Math.max(0, ...b.values());

/**
 * The counts that arrived over `readings` (oldest first), as Prometheus's `increase()` takes them:
 * per worker, between its consecutive readings, a drop meaning a restart (counting from 0 again); a
 * worker seen once adds nothing, and one gone keeps what it counted while it was seen.
 */
export function windowIncrease(readings: readonly WorkerBuckets[]): Map<number, number> {
  const out = new Map<number, number>();
  const last = new Map<string, Buckets>();
  for (const reading of readings)
    for (const [worker, now] of reading) {
      const before = last.get(worker);
      last.set(worker, now);
      if (!before) continue;
      const reset = total(now) < total(before);
      for (const [le, n] of now) out.set(le, (out.get(le) ?? 0) + Math.max(0, n - (reset ? 0 : (before.get(le) ?? 0))));
    }
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
