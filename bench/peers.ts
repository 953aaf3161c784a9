/**
 * Peer baselines on this machine and the same embedded Redis (standalone, AOF everysec), for
 * comparison with streamctl's own throughput benchmark:
 *
 *   npm run bench -- peers --events 200000
 *
 * naive: per-event consumer-group pipeline, 3 hops, one entry per event (bench/peers/naive.ts);
 * BullMQ: 3-queue chain, concurrency 100 (bench/peers/bullmq.ts). Every hop, worker and producer is
 * its own process. Like the other benchmarks, it prints figures and asserts nothing.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { deploymentUrls, startDeployment, stopDeployment } from '../src/redis/deployment.js';
import { findRedisServer } from '../src/redis/redis-server.js';
import { bullmqPeer } from './peers/bullmq.js';
import { naivePeer, type PeerResult } from './peers/naive.js';

export async function benchPeers(opts: { events: number }): Promise<void> {
  const jobs = Math.max(1000, Math.round(opts.events / 10));
  const home = mkdtempSync(join(tmpdir(), 'streamctl-bench-peers-'));
  const { deployment } = await startDeployment({
    home, bin: findRedisServer(undefined, process.env.PATH), mode: 'standalone', primaries: 1, replicas: 0,
    basePort: 23_000, persist: true, nodeTimeoutMs: 2000, detached: false, fresh: true,
  });
  const url = deploymentUrls(deployment)[0]!;
  const admin = new Redis(url, { maxRetriesPerRequest: 2 });
  admin.on('error', () => {});
  const rows: PeerResult[] = [];
  try {
    console.log(`peer baselines: standalone Redis (AOF everysec) co-located, every hop/worker and the producer in its own process, ${availableParallelism()} cores`);
    rows.push(await naivePeer({ url, events: opts.events }));
    await admin.flushall();
    console.log(`BullMQ runs ${jobs.toLocaleString('en')} jobs (events / 10, to keep its run short; the rate is per job)`);
    rows.push(await bullmqPeer({ url, jobs }));
  } finally {
    admin.disconnect();
    await stopDeployment(home, deployment, { keepData: false });
    rmSync(home, { recursive: true, force: true });
  }
  console.log('PEER                                     EVENTS      SECONDS   EVENTS/S');
  for (const r of rows) {
    console.log(`${r.name.padEnd(40)} ${r.events.toLocaleString('en').padEnd(11)} ${r.seconds.toFixed(2).padEnd(9)} ${r.eventsPerSecond.toLocaleString('en')}`);
  }
}
