import { Counter, Gauge, Registry } from 'prom-client';
import type { Snapshot } from './snapshot.js';

/** Every metric name starts with this (as the workers' own). */
const PREFIX = 'streamctl_';

/**
 * The deployment's metrics, from the snapshot `health` shows (one snapshot per scrape, shared by
 * every metric of it): nodes up and primary, failovers, restarts of supervised processes, per stage
 * the live and configured workers, lag, pending and dead letters. The workers serve their own
 * (events, batch durations, end-to-end latency); this is what no single worker knows.
 *
 * Failovers are counted as this exporter sees them: a node that was a replica at one scrape and is
 * a primary at the next (promoted by Redis, or by an operator's failover).
 */
export class DeploymentMetrics {
  readonly registry = new Registry();
  private round: Promise<Snapshot | undefined> | undefined;
  private readonly roles = new Map<string, 'primary' | 'replica'>();
  private failovers = 0;

  constructor(collect: () => Promise<Snapshot>) {
    const registers = [this.registry];
    const snapshot = () => {
      this.round ??= collect()
        .then((s) => {
          this.countFailovers(s);
          return s;
        })
        .catch(() => undefined)
        .finally(() => setImmediate(() => (this.round = undefined)));
      return this.round;
    };
    const gauge = <L extends string>(
      name: string,
      help: string,
      labelNames: readonly L[],
      fill: (s: Snapshot, set: (labels: Record<L, string>, v: number) => void) => void,
    ) => {
      const g: Gauge<L> = new Gauge({
        name: `${PREFIX}${name}`,
        help,
        labelNames,
        registers,
        async collect() {
          const s = await snapshot();
          g.reset();
          if (s) fill(s, (labels, v) => g.set(labels as Partial<Record<L, string | number>>, v));
        },
      });
    };
    const counter = <L extends string>(
      name: string,
      help: string,
      labelNames: readonly L[],
      fill: (s: Snapshot | undefined, set: (labels: Record<L, string>, v: number) => void) => void,
    ) => {
      const c: Counter<L> = new Counter({
        name: `${PREFIX}${name}`,
        help,
        labelNames,
        registers,
        async collect() {
          const s = await snapshot();
          c.reset();
          fill(s, (labels, v) => c.inc(labels as Partial<Record<L, string | number>>, v));
        },
      });
    };

    const ok: Gauge = new Gauge({
      name: `${PREFIX}scrape_ok`,
      help: 'Whether this scrape could read the deployment (1) or not (0)',
      registers,
      async collect() {
        ok.set((await snapshot()) ? 1 : 0);
      },
    });
    gauge('health_ok', "Whether the deployment's health status is ok (1), as `streamctl health` says", [], (s, set) =>
      set({}, s.status === 'ok' ? 1 : 0),
    );
    gauge('node_up', 'Whether the Redis node answers (1) or not (0)', ['node'], (s, set) => {
      for (const n of s.nodes) set({ node: n.address }, n.up ? 1 : 0);
    });
    gauge(
      'node_primary',
      'Whether the Redis node is a primary (1) or a replica (0), while it answers',
      ['node'],
      (s, set) => {
        for (const n of s.nodes) if (n.up) set({ node: n.address }, n.role === 'primary' ? 1 : 0);
      },
    );
    gauge('node_used_memory_bytes', "The Redis node's used_memory", ['node'], (s, set) => {
      for (const n of s.nodes) if (n.usedMemory !== undefined) set({ node: n.address }, n.usedMemory);
    });
    gauge('cluster_slots_covered', 'Hash slots served by a primary nobody suspects (16384: all)', [], (s, set) => {
      if (s.slots) set({}, s.slots.covered);
    });
    counter('failovers_total', 'Replicas seen to become primaries, scrape to scrape', [], (_s, set) =>
      set({}, this.failovers),
    );
    counter(
      'process_restarts_total',
      'Restarts of a process the deployment supervises (a redis-server or a worker slot)',
      ['process', 'kind'],
      (s, set) => {
        for (const p of s?.deployment?.processes ?? []) set({ process: p.name, kind: p.kind }, p.restarts);
      },
    );
    gauge('stage_workers_live', 'Workers of the stage with a heartbeat in the last 3 s', ['stage'], (s, set) => {
      for (const st of s.stages) set({ stage: st.stage }, st.liveWorkers);
    });
    gauge(
      'stage_workers_configured',
      'Worker processes the deployment is configured to run for the stage',
      ['stage'],
      (s, set) => {
        for (const [stage, n] of Object.entries(s.deployment?.configured ?? {})) set({ stage }, n);
      },
    );
    gauge(
      'stage_lag_entries',
      'Stream entries not yet delivered to the stage, over all partitions',
      ['stage'],
      (s, set) => {
        for (const st of s.stages) set({ stage: st.stage }, st.lag);
      },
    );
    gauge(
      'stage_pending_entries',
      'Stream entries delivered to the stage and not yet acknowledged',
      ['stage'],
      (s, set) => {
        for (const st of s.stages) set({ stage: st.stage }, st.pending);
      },
    );
    gauge(
      'stage_dead_letters',
      "Records in the stage's dead-letter streams (replaying or trimming them lowers it)",
      ['stage'],
      (s, set) => {
        for (const st of s.stages) if (st.deadLetters !== undefined) set({ stage: st.stage }, st.deadLetters);
      },
    );
  }

  private countFailovers(s: Snapshot): void {
    for (const n of s.nodes) {
      if (!n.up) continue;
      if (this.roles.get(n.address) === 'replica' && n.role === 'primary') this.failovers++;
      this.roles.set(n.address, n.role);
    }
  }

  /** The exposition text (Prometheus format 0.0.4). */
  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
