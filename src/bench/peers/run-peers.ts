/**
 * Peer baselines: the same events through a naive per-event consumer-group pipeline, the
 * record-batch reference design of DESIGN.md (naive.ts) and a BullMQ 3-queue chain (bullmq.ts),
 * every hop, worker and producer in its own process. `streamctl bench --peers` runs them on the
 * pipeline's own Redis; `npm run bench -- peers` on an embedded standalone Redis of their own.
 */
import type { RedisConnection } from '../../redis/connection.js';
import { BULLMQ_PEER, bullmqMissing, bullmqPeer } from './bullmq.js';
import { NAIVE_PEER, naivePeer, RECORD_BATCH_PEER, recordBatchPeer } from './naive.js';
import type { PeerResult, PeerWorkload } from './peer.js';

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
  /** The metric workload (src/workload/metric-workload.ts) the peers' producers send. */
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
