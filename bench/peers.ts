/**
 * Peer baselines: the same events through a naive per-event consumer-group pipeline, the
 * record-batch reference design of DESIGN.md (bench/peers/naive.ts) and a BullMQ 3-queue chain
 * (bench/peers/bullmq.ts), every hop, worker and producer in its own process. `runPeers` runs them
 * on a given Redis (`streamctl bench --peers` uses the pipeline's own); `npm run bench -- peers
 * --events 200000` runs them on an embedded standalone Redis (AOF everysec) of their own. Like the
 * other benchmarks, they print figures and assert nothing.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRedisFactory, type RedisConnection } from '../src/redis/connection.js';
import { deploymentUrls, startDeployment, stopDeployment } from '../src/redis/deployment.js';
import { parseRedisUrls } from '../src/redis/endpoint.js';
import { findRedisServer } from '../src/redis/redis-server.js';
import { BULLMQ_PEER, bullmqMissing, bullmqPeer } from './peers/bullmq.js';
import type { PeerWorkload } from './peers/child.js';
import { NAIVE_PEER, naivePeer, RECORD_BATCH_PEER, recordBatchPeer, type PeerResult } from './peers/naive.js';

export type { PeerResult } from './peers/naive.js';

/** A peer that did not run, and why (bullmq missing, a failure, Ctrl-C). */
export interface PeerSkipped {
  name: string;
  reason: string;
}

export interface PeerRun {
  results: PeerResult[];
  skipped: PeerSkipped[];
}

export interface RunPeersOptions {
  conn: RedisConnection;
  /** Events for each peer: the first N of the metric workload below. */
  events: number;
  /** Jobs for BullMQ when it should run fewer than `events` (it is far slower); default `events`. */
  bullmqEvents?: number;
  /** The metric workload (src/pipeline/metric-workload.ts) the peers' producers send. */
  workload: Omit<PeerWorkload, 'events'>;
  /** Every key the peers write starts with `<prefix>:`; all are deleted afterwards. */
  prefix: string;
  log: (line: string) => void;
  signal?: AbortSignal;
}

/**
 * Runs the naive peer, the record-batch peer, then the BullMQ peer, one after the other on `conn`'s
 * Redis. Their keys live under `<prefix>:{<run id>}:`: the run id keeps concurrent runs apart, and
 * the hash tag puts every key in one slot, which a cluster needs for BullMQ's multi-key scripts and
 * the naive hops' pipelines. A peer that cannot run (bullmq not installed) or fails is reported in
 * `skipped` rather than thrown, so that the caller keeps its own results.
 */
export async function runPeers(opts: RunPeersOptions): Promise<PeerRun> {
  const prefix = `${opts.prefix}:{${process.pid.toString(36)}-${Date.now().toString(36)}}`;
  const run: PeerRun = { results: [], skipped: [] };
  const peers = [
    { name: NAIVE_PEER, events: opts.events, missing: undefined, run: naivePeer },
    { name: RECORD_BATCH_PEER, events: opts.events, missing: undefined, run: recordBatchPeer },
    { name: BULLMQ_PEER, events: opts.bullmqEvents ?? opts.events, missing: bullmqMissing(), run: bullmqPeer },
  ];
  for (const peer of peers) {
    if (opts.signal?.aborted) {
      run.skipped.push({ name: peer.name, reason: 'interrupted' });
      continue;
    }
    if (peer.missing) {
      opts.log(`peer ${peer.name} skipped: ${peer.missing}`);
      run.skipped.push({ name: peer.name, reason: peer.missing });
      continue;
    }
    opts.log(`peer ${peer.name}: ${peer.events.toLocaleString('en')} events...`);
    try {
      const workload = { ...opts.workload, events: peer.events };
      run.results.push(
        await peer.run({ conn: opts.conn, prefix, workload, ...(opts.signal ? { signal: opts.signal } : {}) }),
      );
    } catch (err) {
      const reason = `failed: ${(err as Error).message}`;
      opts.log(`peer ${peer.name} ${reason}`);
      run.skipped.push({ name: peer.name, reason });
    }
  }
  return run;
}

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
