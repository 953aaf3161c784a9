/** The end-to-end latency histogram's cumulative bucket counts, by upper bound in seconds (+Inf as Infinity). */
export type LatencyBuckets = Map<number, number>;

const BUCKET = /^streamctl_end_to_end_latency_seconds_bucket\{[^}]*le="([^"]+)"[^}]*\}\s+(\S+)$/;

/**
 * Reads the end-to-end latency histogram from each worker's metrics endpoint (one GET each, with a
 * timeout), by the key given with its URL. Kept apart, not summed: a worker that restarts counts
 * from 0 again and one that does not answer is missing, which only per-worker increases survive. A
 * worker that does not answer is left out of this reading.
 */
export async function scrapeEndToEnd(
  targets: { key: string; url: string }[],
  timeoutMs = 1000,
): Promise<Map<string, LatencyBuckets>> {
  const out = new Map<string, LatencyBuckets>();
  await Promise.all(
    targets.map(async ({ key, url }) => {
      const text = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) })
        .then((r) => (r.ok ? r.text() : ''))
        .catch(() => '');
      const buckets: LatencyBuckets = new Map();
      for (const line of text.split('\n')) {
        const m = BUCKET.exec(line);
        if (!m) continue;
        const le = m[1] === '+Inf' ? Infinity : Number(m[1]);
        buckets.set(le, (buckets.get(le) ?? 0) + Number(m[2]));
      }
      if (buckets.size > 0) out.set(key, buckets);
    }),
  );
  return out;
}
