/**
 * `streamctl bench --peers`: after the measured run, the peer baselines of run-peers.ts (a naive
 * per-event consumer-group pipeline, the same with record batches, and a BullMQ 3-queue chain) on
 * the same Redis with the same events, and streamctl's end-to-end rate as a multiple of each peer's.
 */
import type { RedisConnection } from '../../redis/connection.js';
import { renderTable } from '../../table.js';

export interface PeerRow {
  name: string;
  events: number;
  seconds: number;
  eventsPerSecond: number;
  /** streamctl's end-to-end events/s of this run divided by the peer's; null if the peer's rate is 0. */
  ratio: number | null;
}

export interface PeerComparison {
  /** streamctl's end-to-end events/s the ratios divide. */
  streamctlEventsPerSecond: number;
  peers: PeerRow[];
  /** Peers that did not run, and why: bullmq not installed, a failure, Ctrl-C. */
  skipped: { name: string; reason: string }[];
}

const round2 = (x: number) => Math.round(x * 100) / 100;

/**
 * Runs the peers on `conn`'s Redis, standalone or cluster, with the first `events` events of the
 * metric workload `workload` (pass the load's, so the payloads are the same). Their keys live under
 * `<namespace>:peers:` and are deleted afterwards. A peer that cannot run is in `skipped`, never
 * thrown, so that the caller's own results survive.
 */
export async function comparePeers(
  conn: RedisConnection,
  opts: {
    namespace: string;
    events: number;
    workload: { keys: number; seed: number; anomalyRate: number };
    streamctlEventsPerSecond: number;
    log: (line: string) => void;
    signal: AbortSignal;
  },
): Promise<PeerComparison> {
  // Loaded only with --peers: every process that loads the CLI, workers included, would load it otherwise.
  const { runPeers } = await import('./run-peers.js');
  const run = await runPeers({
    conn,
    events: opts.events,
    workload: opts.workload,
    prefix: `${opts.namespace}:peers`,
    log: opts.log,
    signal: opts.signal,
  });
  const ours = opts.streamctlEventsPerSecond;
  return {
    streamctlEventsPerSecond: ours,
    peers: run.results.map((r) => ({
      name: r.name,
      events: r.events,
      seconds: round2(r.seconds),
      eventsPerSecond: r.eventsPerSecond,
      ratio: r.eventsPerSecond > 0 ? round2(ours / r.eventsPerSecond) : null,
    })),
    skipped: run.skipped,
  };
}

/** The text report: a table of the peers' rates and ratios, then the peers that did not run. */
export function renderPeers(c: PeerComparison): string[] {
  const rows = [
    ['streamctl (this run, end to end)', '-', '-', c.streamctlEventsPerSecond.toLocaleString('en'), '1.00'],
    ...c.peers.map((p) => [
      p.name,
      p.events.toLocaleString('en'),
      p.seconds.toFixed(2),
      p.eventsPerSecond.toLocaleString('en'),
      p.ratio === null ? '-' : p.ratio.toFixed(2),
    ]),
  ];
  return [
    "PEERS (same Redis, same events; RATIO = streamctl events/s / peer events/s; streamctl's rate is " +
      'capped by --rate, the peers run flat out)',
    renderTable(['PEER', 'EVENTS', 'SECONDS', 'EVENTS/S', 'RATIO'], rows),
    ...c.skipped.map((s) => `  ${s.name}: not run, ${s.reason}`),
  ];
}
