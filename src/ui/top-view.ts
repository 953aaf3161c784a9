import type { DeploymentEvent, Snapshot } from '../observe/snapshot.js';
import { quantile, windowIncrease, type WorkerBuckets } from './latency.js';

/** How many refreshes of history the sparklines keep (a minute at the default interval). */
export const HISTORY = 60;
/** The window of the latency percentiles. */
const LATENCY_WINDOW_MS = 60_000;
/** Alerts kept for the feed. */
const ALERTS_KEPT = 200;

/** An alert the cep stage raised, as the feed shows it. */
export interface AlertRow {
  /** Event time, epoch ms. */
  time: number;
  rule: string;
  key: string;
  kind: string;
}

/** What one refresh brings: the snapshot, the alerts raised since the last one, the latency histogram. */
export interface TopSample {
  snapshot: Snapshot;
  alerts?: AlertRow[];
  /** The end-to-end histogram's cumulative counts of each worker, now. */
  latency?: WorkerBuckets;
}

/** End-to-end p50 and p99 over the last minute, in seconds, at one refresh; undefined with no event. */
export interface LatencyPoint {
  p50: number | undefined;
  p99: number | undefined;
}

/** One stage's row: what the stages table shows. */
export interface StageRow {
  stage: string;
  live: number;
  configured: number | undefined;
  /** Events per second, summed over the stage's live workers. */
  rate: number;
  lag: number;
  pending: number;
  deadLetters: number;
  /** The rate at each of the last refreshes, oldest first. */
  history: number[];
}

/** One node's row: what the nodes table shows. */
export interface NodeRow {
  address: string;
  role: 'primary' | 'replica';
  up: boolean;
  usedMemory: number | undefined;
  maxmemory: number | undefined;
  change: string | undefined;
}

/** Everything `top` shows, derived from the snapshots seen so far: plain data for the panels. */
export interface TopView {
  target: string;
  status: Snapshot['status'];
  checkedAt: string;
  /** Since the supervisor started, when the deployment is the embedded one. */
  uptimeMs: number | undefined;
  problems: string[];
  stages: StageRow[];
  nodes: NodeRow[];
  /** The deployment's events (failovers, restarts, exits, chaos faults applied and healed), newest last. */
  events: DeploymentEvent[];
  /** The cep alerts seen, newest last. */
  alerts: AlertRow[];
  /** p50 and p99 over the last minute, at each of the last refreshes. */
  latency: LatencyPoint[];
  /** The histogram readings of the last minute, for the window. */
  readings: { at: number; workers: WorkerBuckets }[];
}

/** The first view: nothing seen yet. */
export function emptyView(target: string): TopView {
  return {
    target,
    status: 'ok',
    checkedAt: '',
    uptimeMs: undefined,
    problems: [],
    stages: [],
    nodes: [],
    events: [],
    alerts: [],
    latency: [],
    readings: [],
  };
}

/** The next view: `previous` with this refresh added (the rate and latency histories grow by one). */
export function nextView(previous: TopView, sample: TopSample): TopView {
  const s = sample.snapshot;
  const at = Date.parse(s.checkedAt);
  const rates = new Map<string, number>();
  for (const w of s.workers) if (w.live) rates.set(w.stage, (rates.get(w.stage) ?? 0) + w.rate);
  const stages = s.stages.map((st) => {
    const rate = rates.get(st.stage) ?? 0;
    const before = previous.stages.find((p) => p.stage === st.stage)?.history ?? [];
    return {
      stage: st.stage,
      live: st.liveWorkers,
      configured: st.configuredWorkers,
      rate,
      lag: st.lag,
      pending: st.pending,
      deadLetters: st.deadLetters ?? 0,
      history: [...before, rate].slice(-HISTORY),
    };
  });
  const started = s.deployment?.events.find((e) => e.kind === 'start' && e.process === 'supervisor')?.time;
  return {
    target: s.deployment?.home ?? s.target.join(','),
    status: s.status,
    checkedAt: s.checkedAt,
    uptimeMs: started ? at - Date.parse(started) : undefined,
    problems: s.problems.map((p) => p.message),
    stages,
    nodes: s.nodes.map((n) => ({
      address: n.address,
      role: n.role,
      up: n.up,
      usedMemory: n.usedMemory,
      maxmemory: n.maxmemory,
      change: n.change,
    })),
    events: (s.deployment?.events ?? []).filter((e) => e.kind !== 'ready'),
    alerts: [...previous.alerts, ...(sample.alerts ?? [])].slice(-ALERTS_KEPT),
    ...latencyOf(previous, at, sample.latency),
  };
}

/** The latency window moved to `at`, and the percentiles over it. */
function latencyOf(previous: TopView, at: number, workers: WorkerBuckets | undefined) {
  if (!workers) return { latency: previous.latency, readings: previous.readings };
  const readings = [...previous.readings, { at, workers }].filter((r) => at - r.at <= LATENCY_WINDOW_MS);
  const window = windowIncrease(readings.map((r) => r.workers));
  const point = { p50: quantile(0.5, window), p99: quantile(0.99, window) };
  return { latency: [...previous.latency, point].slice(-HISTORY), readings };
}
