import type { Cluster, Redis } from 'ioredis';
import { HEARTBEAT_STALE_MS, type Heartbeat } from './stage-worker.js';

/**
 * The heartbeats of the live workers of a namespace (seen within HEARTBEAT_STALE_MS), every stage
 * and host. An entry that is not a heartbeat is skipped: the workers themselves remove it.
 */
export async function liveHeartbeats(client: Redis | Cluster, ns: string): Promise<Heartbeat[]> {
  const all = await client.hgetall(`${ns}:workers`);
  const now = Date.now();
  const live: Heartbeat[] = [];
  for (const json of Object.values(all)) {
    try {
      const h = JSON.parse(json) as Heartbeat;
      if (now - h.ts < HEARTBEAT_STALE_MS) live.push(h);
    } catch {
      // not a heartbeat
    }
  }
  return live;
}
