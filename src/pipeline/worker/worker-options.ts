import type { StreamEvent } from '../codec.js';
import type { RedisConnection } from '../../redis/connection.js';
import type { LookupOptions } from '../services/lookup.js';
import type { StageFactory } from '../stage.js';
import type { BatchTracer } from '../batch-tracer.js';
import type { StageStreams, Topology } from '../topology.js';
import { withDefaults } from '../../defaults.js';
import { DURABLE_DEFAULTS } from '../../redis/pipeline-by-node.js';

/** The stage a worker runs: its streams and its settings from the pipeline file. */
export interface WorkerStage extends StageStreams {
  maxDeliveries: number;
  params: Record<string, unknown>;
}

/** What `onBatch` is told after each committed batch. */
export interface BatchInfo {
  partition: number;
  events: number;
  outputs: number;
  /** From the start of processing to the commit's reply. */
  ms: number;
  /** The events the commit wrote to the stage's output (their `ts` is each one's intended send time). */
  outputEvents: readonly StreamEvent[];
}

export interface WorkerOptions {
  conn: RedisConnection;
  topology: Topology;
  stage: WorkerStage;
  factory: StageFactory;
  /** Default: `<stage>-<host>-<pid>-<random>`. */
  workerId?: string;
  /** Stream entries per read (each holds many events). */
  batchEntries?: number;
  /** How long a read waits for new entries. */
  blockMs?: number;
  /** Partition lease time to live: how soon a dead worker's partitions move. */
  leaseTtlMs?: number;
  /** How often the worker renews its leases, publishes its heartbeat and rebalances. */
  balanceMs?: number;
  /** WAIT for one replica after every commit. */
  durable?: boolean;
  /** With `durable`: how long a commit may wait for a replica before it fails as not durable (ms). */
  durableTimeoutMs?: number;
  /** Published in the heartbeat, so that `health` shows where to scrape. */
  metricsPort?: number;
  /** Cache and breaker settings of `ctx.services.lookup`. */
  lookup?: LookupOptions;
  log?: (message: string) => void;
  /** Called after each committed batch; the metrics layer hooks in here. */
  onBatch?: (info: BatchInfo) => void;
  /** Spans around the batches whose input entries carry a trace context (tracing on). */
  tracer?: BatchTracer | undefined;
}

/** The defaults of a worker's settings; the CLI's flags take theirs from here. */
export const WORKER_DEFAULTS = {
  batchEntries: 50,
  blockMs: 500,
  leaseTtlMs: 3000,
  balanceMs: 500,
  durable: false,
  durableTimeoutMs: DURABLE_DEFAULTS.timeoutMs,
  /** How long a stop gives in-flight batches to commit (the blocking reads are cut at 3/4 of it). */
  shutdownTimeoutMs: 10_000,
} as const;

/** The options with every default applied, as the worker and its partitions read them. */
export type ResolvedWorkerOptions = Required<Omit<WorkerOptions, 'workerId' | 'metricsPort' | 'lookup' | 'tracer'>> &
  Pick<WorkerOptions, 'metricsPort' | 'lookup' | 'tracer'>;

const ignore = (): void => undefined;

/** Applies the defaults, once, where the options enter the worker. */
export function resolveWorkerOptions(o: WorkerOptions): ResolvedWorkerOptions {
  return withDefaults<ResolvedWorkerOptions>({ ...WORKER_DEFAULTS, log: ignore, onBatch: ignore }, o);
}
