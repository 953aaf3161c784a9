import type { DeploymentEvent } from '../observe/snapshot.js';
import type { LostWindow } from '../pipeline/audit.js';

/**
 * How far around the lost events' send times an event of the deployment still counts: a failover
 * is decided a node timeout or more after the writes it loses, and a send time is when the
 * producer handed the event out, not when its append reached Redis.
 */
export const LOSS_MARGIN_MS = 30_000;

/** The deployment events that may explain a loss, and the time span they were picked from. */
export interface EventsNearLoss {
  /** `sent`: the lost seqs' neighbours dated them; `run`: only the run's start and end were known. */
  basis: 'sent' | 'run';
  from: number;
  to: number;
  events: DeploymentEvent[];
}

/**
 * Picks the deployment events (failovers, restarts, exits) within `marginMs` of the times the lost
 * seqs were sent. A lost range's time comes from its nearest surviving neighbours; when no range
 * has any, the events within the run (`startedAt` to `endedAt`, or now) are given instead.
 */
export function eventsNearLoss(
  windows: LostWindow[],
  run: { startedAt: number; endedAt?: number | undefined },
  events: DeploymentEvent[],
  o: { marginMs?: number; now?: number } = {},
): EventsNearLoss {
  const margin = o.marginMs ?? LOSS_MARGIN_MS;
  const spans = windows.flatMap((w) => {
    const a = w.after ?? w.before;
    const b = w.before ?? w.after;
    return a === undefined || b === undefined ? [] : [[a - margin, b + margin] as const];
  });
  if (!spans.length) {
    const from = run.startedAt;
    const to = run.endedAt ?? o.now ?? Date.now();
    return { basis: 'run', from, to, events: events.filter((e) => within(e, from, to)) };
  }
  return {
    basis: 'sent',
    from: Math.min(...spans.map((s) => s[0])),
    to: Math.max(...spans.map((s) => s[1])),
    events: events.filter((e) => spans.some(([a, b]) => within(e, a, b))),
  };
}

function within(e: DeploymentEvent, from: number, to: number): boolean {
  const t = Date.parse(e.time);
  return t >= from && t <= to;
}
