import { Counter, Gauge, Registry } from 'prom-client';
import { METRIC_PREFIX } from './metrics.js';
import type { Snapshot } from './snapshot.js';

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
        .catch(() => undefined);
      return this.round;
    };
    /**
     * A metric read from the scrape's snapshot; a counter is set to its total (`inc` from 0 after a
     * reset). With no snapshot (Redis unreadable) it has no samples in that scrape, unless `always`.
     */
    const metric = <L extends string>(
      kind: 'gauge' | 'counter',
      name: string,
      help: string,
      labelNames: readonly L[],
      fill: (s: Snapshot | undefined, set: (labels: Record<L, string>, v: number) => void) => void,
      always = false,
    ) => {
      const opts = { name: `${METRIC_PREFIX}${name}`, help, labelNames, registers };
      const m: Gauge<L> | Counter<L> =
        kind === 'gauge'
          ? new Gauge({ ...opts, collect: () => refresh() })
          : new Counter({ ...opts, collect: () => refresh() });
      const refresh = async () => {
        const s = await snapshot();
        m.reset();
        if (!s && !always) return;
        fill(s, (labels, v) => {
          const l = labels as Partial<Record<L, string | number>>;
          if (m instanceof Gauge) m.set(l, v);
          else m.inc(l, v);
        });
      };
    };
    const gauge = <L extends string>(
      name: string,
      help: string,
      labelNames: readonly L[],
      fill: (s: Snapshot, set: (labels: Record<L, string>, v: number) => void) => void,
    ) => metric('gauge', name, help, labelNames, (s, set) => fill(s!, set));
    metric(
      'gauge',
      'scrape_ok',
      'Whether this scrape could read the deployment (1) or not (0)',
      [],
      (s, set) => set({}, s ? 1 : 0),
      true,
    );
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
    metric(
      'counter',
      'failovers_total',
      'Replicas seen to become primaries, scrape to scrape',
      [],
      (_s, set) => set({}, this.failovers),
      true,
    );
    metric(
      'counter',
      'process_restarts_total',
      'Restarts of a process the deployment supervises (a redis-server or a worker slot)',
      ['process', 'kind'],
      (s, set) => {
        for (const p of s?.deployment?.processes ?? []) set({ process: p.name, kind: p.kind }, p.restarts);
      },
    );
    const stageGauge = (name: string, help: string, value: (st: Snapshot['stages'][number]) => number | undefined) =>
      gauge(name, help, ['stage'], (s, set) => {
        for (const st of s.stages) {
          const v = value(st);
          if (v !== undefined) set({ stage: st.stage }, v);
        }
      });
    stageGauge('stage_workers_live', 'Workers of the stage with a heartbeat in the last 3 s', (st) => st.liveWorkers);
    stageGauge(
      'stage_lag_entries',
      'Stream entries not yet delivered to the stage, over all partitions',
      (st) => st.lag,
    );
    stageGauge(
      'stage_pending_entries',
      'Stream entries delivered to the stage and not yet acknowledged',
      (st) => st.pending,
    );
    stageGauge(
      'stage_dead_letters',
      "Records in the stage's dead-letter streams (replaying or trimming them lowers it)",
      (st) => st.deadLetters,
    );
    gauge(
      'stage_workers_configured',
      'Worker processes the deployment is configured to run for the stage',
      ['stage'],
      (s, set) => {
        for (const [stage, n] of Object.entries(s.deployment?.configured ?? {})) set({ stage }, n);
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

  /** The exposition text (Prometheus format 0.0.4), from a snapshot taken for this scrape. */
  metrics(): Promise<string> {
    this.round = undefined;
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
