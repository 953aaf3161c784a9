import { hostname } from 'node:os';
import { EmittedReader } from '../pipeline/emitted-reader.js';
import { ALERTS } from '../pipeline/stages/cep/cep.js';
import { existingTopology } from '../pipeline/topology.js';
import type { RedisConnection } from '../redis/connection.js';
import { scrapeEndToEnd, type LatencyBuckets } from './end-to-end-scrape.js';
import type { Snapshot } from './snapshot.js';

/** Alerts read first, per partition: the feed starts with the latest ones. */
const FIRST_ALERTS = 20;

/** What `top` shows at one refresh, beyond the snapshot. */
export interface TopReading {
  snapshot: Snapshot;
  /** The cep alerts raised since the last reading (the latest ones at the first). */
  alerts: { time: number; rule: string; key: string; kind: string }[];
  /** The end-to-end latency histogram, summed over the workers of this host that serve metrics. */
  latency: LatencyBuckets;
}

/**
 * The readings of `streamctl top`: at each call, the snapshot (`snapshot()`), the cep alerts since
 * the last call, and the end-to-end histogram from the live workers' metrics endpoints.
 */
export function topSampler(
  conn: RedisConnection,
  namespace: string,
  snapshot: () => Promise<Snapshot>,
): () => Promise<TopReading> {
  let reader: EmittedReader | undefined;
  let first = true;
  const here = hostname();
  return async () => {
    const s = await snapshot();
    if (!reader && s.stages.length > 0)
      reader = new EmittedReader(conn.client(), (await existingTopology(conn.client(), namespace, '')).keys, ALERTS);
    const raw = reader ? await (first ? reader.newest(FIRST_ALERTS) : reader.next()) : [];
    if (reader) first = false;
    const urls = s.workers
      .filter((w) => w.live && w.metricsPort && w.host === here)
      .map((w) => `http://127.0.0.1:${w.metricsPort}/metrics`);
    return {
      snapshot: s,
      alerts: raw.map((a) => ({
        time: Number(a.time ?? 0),
        rule: String(a.rule ?? '?'),
        key: String(a.key ?? '?'),
        kind: String(a.kind ?? ''),
      })),
      latency: await scrapeEndToEnd([...new Set(urls)]),
    };
  };
}
