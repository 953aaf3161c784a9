/**
 * `npm run bench -- peers --events 200000`: the peer baselines of src/bench/peers/ on an embedded
 * standalone Redis (AOF everysec) of their own. Like the other benchmarks, it prints figures and
 * asserts nothing.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { runPeers, type PeerRun } from '../src/bench/peers/run-peers.js';
import { deploymentUrls, startDeployment, stopDeployment } from '../src/embedded/deployment.js';
import { findRedisServer } from '../src/embedded/redis-server.js';
import { createRedisFactory } from '../src/redis/connection.js';
import { parseRedisUrls } from '../src/redis/endpoint.js';

/** `npm run bench -- peers`: every peer on an embedded standalone Redis of their own. */
export async function benchPeers(opts: { events: number }): Promise<void> {
  const jobs = Math.max(1000, Math.round(opts.events / 10));
  const home = mkdtempSync(join(tmpdir(), 'streamctl-bench-peers-'));
  const { deployment } = await startDeployment({
    home,
    bin: findRedisServer(undefined, process.env.PATH),
    mode: 'standalone',
    primaries: 1,
    replicas: 0,
    basePort: 23_000,
    persist: true,
    nodeTimeoutMs: 2000,
    detached: false,
    fresh: true,
  });
  const url = deploymentUrls(deployment)[0]!;
  let run: PeerRun;
  try {
    const conn = await createRedisFactory().open({ endpoints: parseRedisUrls(url), source: '--redis' });
    try {
      console.log(
        `peer baselines: standalone Redis (AOF everysec) co-located, every hop/worker and the producer in its own process, ${availableParallelism()} cores`,
      );
      console.log(
        `BullMQ runs ${jobs.toLocaleString('en')} jobs (events / 10, to keep its run short; the rate is per job)`,
      );
      // The same workload as `streamctl bench` with its defaults.
      run = await runPeers({
        conn,
        events: opts.events,
        bullmqEvents: jobs,
        workload: { keys: 1000, seed: 1, anomalyRate: 0.01 },
        prefix: 'peers',
        log: console.log,
      });
    } finally {
      await conn.close();
    }
  } finally {
    await stopDeployment(home, deployment, { keepData: false });
    rmSync(home, { recursive: true, force: true });
  }
  console.log('PEER                                     EVENTS      SECONDS   EVENTS/S');
  for (const r of run.results) {
    console.log(
      `${r.name.padEnd(40)} ${r.events.toLocaleString('en').padEnd(11)} ${r.seconds.toFixed(2).padEnd(9)} ${r.eventsPerSecond.toLocaleString('en')}`,
    );
  }
  if (run.skipped.length > 0)
    throw new Error(`peers did not run: ${run.skipped.map((s) => `${s.name}: ${s.reason}`).join('; ')}`);
}
