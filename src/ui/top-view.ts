import type { DeploymentEvent, Snapshot } from '../observe/snapshot.js';

/** How many refreshes of history the sparklines keep (a minute at the default interval). */
export const HISTORY = 60;

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
  /** The deployment's events (failovers, restarts, exits), newest last. */
  events: DeploymentEvent[];
}

/** The first view: nothing seen yet. */
export function emptyView(target: string): TopView {
  return { target, status: 'ok', checkedAt: '', uptimeMs: undefined, problems: [], stages: [], nodes: [], events: [] };
}

/** The next view: `previous` with this snapshot added (the stages' rate history grows by one). */
export function nextView(previous: TopView, s: Snapshot): TopView {
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
    uptimeMs: started ? Date.parse(s.checkedAt) - Date.parse(started) : undefined,
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
  };
}
