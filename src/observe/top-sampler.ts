import { hostname } from 'node:os';
import { EmittedReader } from '../pipeline/emitted-reader.js';
import { ALERTS } from '../pipeline/stages/cep/cep.js';
import { existingTopology } from '../pipeline/topology.js';
import type { RedisConnection } from '../redis/connection.js';
import { collectSnapshot } from './collect-snapshot.js';
import { scrapeEndToEnd, type LatencyBuckets } from './end-to-end-scrape.js';
import type { DeploymentStatus, Snapshot } from './snapshot.js';

/** Alerts read first, per partition: the feed starts with the latest ones. */
const FIRST_ALERTS = 20;

/** What `top` shows at one refresh, beyond the snapshot. */
export interface TopReading {
  snapshot: Snapshot;
  /** The cep alerts raised since the last reading (the latest ones at the first). */
  alerts: { time: number; rule: string; key: string; kind: string }[];
  /** The end-to-end latency histogram of each worker of this host that serves metrics, by worker id. */
  latency: Map<string, LatencyBuckets>;
}

/**
 * The readings of `streamctl top` (and of the live screens of `bench` and `chaos run`): at each
 * call, the snapshot, with the embedded deployment's status as `deployment()` reads it then; the cep
 * alerts since the last call; and the end-to-end histogram from the live workers' metrics endpoints.
 */
export function topSampler(
  conn: RedisConnection,
  namespace: string,
  deployment: () => DeploymentStatus | undefined,
): () => Promise<TopReading> {
  let reader: EmittedReader | undefined;
  let first = true;
  const here = hostname();
  return async () => {
    const s = await collectSnapshot(conn, namespace, { deployment: deployment() });
    if (!reader && s.stages.length > 0)
      reader = new EmittedReader(conn.client(), (await existingTopology(conn.client(), namespace, '')).keys, ALERTS);
    const raw = reader ? await (first ? reader.newest(FIRST_ALERTS) : reader.next()) : [];
    if (reader) first = false;
    const targets = s.workers
      .filter((w) => w.live && w.metricsPort && w.host === here)
      .map((w) => ({ key: w.id, url: `http://127.0.0.1:${w.metricsPort}/metrics` }));
    return {
      snapshot: s,
      alerts: raw.map((a) => ({
        time: Number(a.time ?? 0),
        rule: String(a.rule ?? '?'),
        key: String(a.key ?? '?'),
        kind: String(a.kind ?? ''),
      })),
      latency: await scrapeEndToEnd(targets),
    };
  };
}
