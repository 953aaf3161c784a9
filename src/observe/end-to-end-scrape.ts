/** The end-to-end latency histogram's cumulative bucket counts, by upper bound in seconds (+Inf as Infinity). */
export type LatencyBuckets = Map<number, number>;

const BUCKET = /^streamctl_end_to_end_latency_seconds_bucket\{[^}]*le="([^"]+)"[^}]*\}\s+(\S+)$/;

/**
 * Reads the end-to-end latency histogram from the workers' metrics endpoints and sums it over them
 * (one GET each, with a timeout); a worker that does not answer is left out of this reading.
 */
export async function scrapeEndToEnd(urls: string[], timeoutMs = 1000): Promise<LatencyBuckets> {
  const sum: LatencyBuckets = new Map();
  await Promise.all(
    urls.map(async (url) => {
      const text = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) })
        .then((r) => (r.ok ? r.text() : ''))
        .catch(() => '');
      for (const line of text.split('\n')) {
        const m = BUCKET.exec(line);
        if (!m) continue;
        const le = m[1] === '+Inf' ? Infinity : Number(m[1]);
        sum.set(le, (sum.get(le) ?? 0) + Number(m[2]));
      }
    }),
  );
  return sum;
}
