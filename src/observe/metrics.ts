import type { Cluster, Redis } from 'ioredis';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Topology } from '../pipeline/topology.js';
import type { WorkerCounters } from '../pipeline/worker/heartbeats.js';
import type { BatchInfo } from '../pipeline/worker/worker-options.js';
import { stageBacklog } from '../pipeline/backlog.js';
import type { LookupStats } from '../pipeline/services/lookup.js';
import { withTimeout } from '../wait.js';

/** Every metric name starts with this (the workers', the deployment's). */
export const METRIC_PREFIX = 'streamctl_';

/**
 * prom-client's default gauges whose names end in `_total`, which Prometheus reserves for counters
 * (`promtool check metrics` flags them); the same counts by type are kept (`..._active_handles`).
 */
const MISNAMED_DEFAULTS = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

/** End-to-end latencies: 1 ms to 2 min. */
const END_TO_END_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

/** Batch durations: 0.1 ms to 5 s, roughly 1-2.5-5 per decade. */
const BATCH_DURATION_BUCKETS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
];

/** What the metrics read from a worker: a StageWorker fits (tests may pass a stand-in). */
export interface MeteredWorker {
  readonly counters: Readonly<WorkerCounters>;
  readonly owned: readonly number[];
  /** The stage it runs. */
  readonly stage: string;
  /** Reference lookups of the worker's stages (cache and breaker), if it made any. */
  lookupStats?(): LookupStats;
}

export type BatchHook = (info: BatchInfo) => void;

export interface WorkerMetricsOptions {
  /**
   * Entries not yet delivered to `stage`, summed over its partitions; called once per stage on
   * every scrape. A throw or a timeout leaves the stage's lag sample out of that scrape and counts
   * in `streamctl_lag_errors_total`. Without it there is no lag gauge value.
   */
  lag?: (stage: string) => Promise<number>;
  /** How long one lag computation may take before the scrape goes on without it (default 3000 ms). */
  lagTimeoutMs?: number;
  /** Process metrics (CPU, memory, event loop, GC) with the `streamctl_` prefix (default true). */
  defaultMetrics?: boolean;
}

type Totals = Pick<WorkerCounters, 'received' | 'sent' | 'emitted' | 'failed' | 'deadLettered'>;
const COUNTER_FIELDS = ['received', 'sent', 'emitted', 'failed', 'deadLettered'] as const;
const NO_TOTALS: Totals = { received: 0, sent: 0, emitted: 0, failed: 0, deadLettered: 0 };

/**
 * Prometheus metrics of the stage workers of one process, in a registry of its own. The workers
 * know nothing of it: counters and owned partitions are read from the attached workers when
 * scraped (so nothing is counted twice), batch durations arrive through each worker's `onBatch`
 * hook (`onBatch(stage)`), and the lag through the `lag` callback. Labels: `stage` only.
 *
 * One instance per process: the default process metrics install a GC observer and an event-loop
 * monitor that live as long as the process.
 */
export class WorkerMetrics {
  readonly registry = new Registry();
  private readonly workers = new Set<MeteredWorker>();
  /** Per stage: the final counters of detached workers, so the totals never go down. */
  private readonly retired = new Map<string, Totals>();
  /** Stages seen through attach or onBatch, in order. */
  private readonly stages = new Set<string>();
  private readonly batchDuration: Histogram<'stage'>;
  private readonly endToEnd: Histogram<'stage'>;
  private readonly lagErrors: Counter<'stage'>;
  private readonly lag: Gauge<'stage'>;
  private lagRound: Promise<void> | undefined;

  constructor(private readonly opts: WorkerMetricsOptions = {}) {
    if (opts.defaultMetrics ?? true) {
      collectDefaultMetrics({ register: this.registry, prefix: METRIC_PREFIX });
      for (const name of MISNAMED_DEFAULTS) this.registry.removeSingleMetric(`${METRIC_PREFIX}${name}`);
    }
    const registers = [this.registry];
    const labelNames = ['stage'] as const;

    const counter = (field: (typeof COUNTER_FIELDS)[number], name: string, help: string): void => {
      const c: Counter<'stage'> = new Counter({
        name: `${METRIC_PREFIX}${name}`,
        help,
        labelNames,
        registers,
        // Set from the workers' own counters at each scrape: the worker is the one source of truth.
        collect: () => {
          const totals = this.totals();
          c.reset();
          for (const [stage, t] of totals) c.inc({ stage }, t[field]);
        },
      });
    };
    counter(
      'received',
      'events_received_total',
      'Events the stage read and decoded (a redelivered event counts again)',
    );
    counter('sent', 'events_sent_total', 'Events the stage committed to its output stream');
    counter(
      'emitted',
      'events_emitted_total',
      'Events the stage sent to other streams with its output (the cep stage: alerts)',
    );
    counter('failed', 'events_failed_total', 'Events of batches whose process() threw (they are redelivered)');
    counter('deadLettered', 'events_dead_lettered_total', 'Events the stage moved to the dead-letter stream');

    // Reference lookups (the enrich stage's two-level cache and its circuit breaker), per stage.
    const lookups = () => {
      const byStage = new Map<string, LookupStats[]>();
      for (const w of this.workers) {
        const st = w.lookupStats?.();
        if (st && st.hits + st.misses > 0) byStage.set(w.stage, [...(byStage.get(w.stage) ?? []), st]);
      }
      return byStage;
    };
    const lookupCounter = (field: 'hits' | 'misses' | 'degraded', help: string): void => {
      const c: Counter<'stage'> = new Counter({
        name: `${METRIC_PREFIX}lookup_${field}_total`,
        help,
        labelNames,
        registers,
        collect: () => {
          c.reset();
          for (const [stage, list] of lookups())
            c.inc(
              { stage },
              list.reduce((a, x) => a + x[field], 0),
            );
        },
      });
    };
    lookupCounter('hits', 'Reference lookups answered by the in-process cache');
    lookupCounter('misses', 'Reference lookups that went past the cache');
    lookupCounter('degraded', 'Reference lookups answered as degraded (breaker open or Redis failing)');
    const hitRatio: Gauge<'stage'> = new Gauge({
      name: `${METRIC_PREFIX}lookup_cache_hit_ratio`,
      help: 'Share of reference lookups answered by the in-process cache',
      labelNames,
      registers,
      collect: () => {
        hitRatio.reset();
        for (const [stage, list] of lookups()) {
          const hits = list.reduce((a, x) => a + x.hits, 0);
          const all = list.reduce((a, x) => a + x.hits + x.misses, 0);
          hitRatio.set({ stage }, all ? hits / all : 0);
        }
      },
    });
    const breakerOpen: Gauge<'stage'> = new Gauge({
      name: `${METRIC_PREFIX}lookup_breaker_open`,
      help: 'Whether a reference lookup circuit breaker of the stage is open or half-open (1) or closed (0)',
      labelNames,
      registers,
      collect: () => {
        breakerOpen.reset();
        for (const [stage, list] of lookups())
          breakerOpen.set({ stage }, list.some((x) => x.breaker !== 'closed') ? 1 : 0);
      },
    });

    this.batchDuration = new Histogram({
      name: `${METRIC_PREFIX}batch_duration_seconds`,
      help: 'Time from reading a batch to its commit (decode, process, commit), committed batches only',
      labelNames,
      registers,
      buckets: BATCH_DURATION_BUCKETS,
    });

    this.endToEnd = new Histogram({
      name: `${METRIC_PREFIX}end_to_end_latency_seconds`,
      help: "Each event's time from its intended send time to its commit at the pipeline's last stage",
      labelNames,
      registers,
      buckets: END_TO_END_BUCKETS,
    });

    const owned: Gauge<'stage'> = new Gauge({
      name: `${METRIC_PREFIX}owned_partitions`,
      help: 'Partitions whose lease the stage workers of this process hold',
      labelNames,
      registers,
      collect: () => {
        const byStage = new Map<string, number>([...this.stages].map((s) => [s, 0]));
        for (const w of this.workers) byStage.set(w.stage, (byStage.get(w.stage) ?? 0) + w.owned.length);
        owned.reset();
        for (const [stage, n] of byStage) owned.set({ stage }, n);
      },
    });

    // Both collect through one shared computation per scrape (the registry collects concurrently),
    // so an error shows in the same scrape; simultaneous scrapes share it too.
    this.lagErrors = new Counter({
      name: `${METRIC_PREFIX}lag_errors_total`,
      help: 'Scrapes whose lag computation failed or timed out (the lag sample was left out)',
      labelNames,
      registers,
      collect: () => this.refreshLag(),
    });
    this.lag = new Gauge({
      name: `${METRIC_PREFIX}lag_entries`,
      help: 'Stream entries not yet delivered to the stage, summed over all its partitions (computed at scrape)',
      labelNames,
      registers,
      collect: () => this.refreshLag(),
    });
  }

  private refreshLag(): Promise<void> {
    this.lagRound ??= this.computeLag().finally(() => {
      this.lagRound = undefined;
    });
    return this.lagRound;
  }

  private async computeLag(): Promise<void> {
    const fn = this.opts.lag;
    if (!fn) return;
    const stages = [...this.stages];
    const timeoutMs = this.opts.lagTimeoutMs ?? 3000;
    const results = await Promise.allSettled(
      stages.map((s) =>
        withTimeout(
          Promise.resolve().then(() => fn(s)),
          timeoutMs,
          `lag of stage "${s}"`,
        ),
      ),
    );
    // Set everything at once after the awaits, so no scrape sees a half-updated gauge.
    this.lag.reset();
    results.forEach((r, i) => {
      const stage = stages[i]!;
      if (r.status === 'fulfilled' && Number.isFinite(r.value)) this.lag.set({ stage }, r.value);
      else this.lagErrors.inc({ stage });
    });
  }

  /** Adds a stage, so that its series exist (at 0) before its first batch. */
  private track(stage: string): void {
    if (this.stages.has(stage)) return;
    this.stages.add(stage);
    this.batchDuration.zero({ stage });
    this.lagErrors.inc({ stage }, 0);
  }

  /**
   * The function to pass as the worker's `onBatch` option: it feeds the batch duration histogram,
   * and at the pipeline's last stage (`sink`) the end-to-end latency of every event committed.
   */
  onBatch(stage: string, o: { sink?: boolean } = {}): BatchHook {
    this.track(stage);
    const batch = this.batchDuration.labels({ stage });
    if (!o.sink) return (info) => batch.observe(info.ms / 1000);
    this.endToEnd.zero({ stage });
    const e2e = this.endToEnd.labels({ stage });
    return (info) => {
      batch.observe(info.ms / 1000);
      const now = Date.now();
      for (const e of info.outputEvents) e2e.observe(Math.max(0, now - e.ts) / 1000);
    };
  }

  /** Reads this worker's counters and owned partitions at every scrape, summed per stage. */
  attach(...workers: MeteredWorker[]): void {
    for (const w of workers) {
      this.track(w.stage);
      this.workers.add(w);
    }
  }

  /** Stops reading the worker; its counts so far stay in the totals (counters never go down). */
  detach(worker: MeteredWorker): void {
    if (!this.workers.delete(worker)) return;
    const stage = worker.stage;
    const r = this.retired.get(stage) ?? { ...NO_TOTALS };
    for (const f of COUNTER_FIELDS) r[f] += worker.counters[f];
    this.retired.set(stage, r);
  }

  private totals(): Map<string, Totals> {
    const out = new Map<string, Totals>();
    for (const s of this.stages) out.set(s, { ...NO_TOTALS, ...this.retired.get(s) });
    for (const w of this.workers) {
      const t = out.get(w.stage)!;
      for (const f of COUNTER_FIELDS) t[f] += w.counters[f];
    }
    return out;
  }

  /** The exposition text (Prometheus format 0.0.4). */
  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

/** The lag of `stage` (entries not yet delivered to it, over all partitions): the gauge's source. */
export async function stageLag(client: Redis | Cluster, topology: Topology, stage: string): Promise<number> {
  return (await stageBacklog(client, topology, stage)).lag;
}
