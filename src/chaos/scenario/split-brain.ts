import type { LostWindow } from '../../pipeline/audit.js';
import type { FaultOutcome } from '../inject.js';
import type { NodeTarget } from '../fault.js';
import type { TimelineEntry } from './runner.js';

/**
 * A partition's account in a scenario's report: when the node was cut off, when Redis's failure
 * detection saw it, when it was healed and what it came back as, and the acknowledged writes lost,
 * with when they were sent. An isolated primary keeps taking writes from the clients that still
 * reach it until it sees it is in the minority; its replica, promoted on the majority side, never
 * had them, and the old primary drops them when it rejoins as a replica. Durable appends (WAIT for
 * a replica) are not acknowledged in that window, so none of them may be lost.
 */
export interface SplitBrain {
  node: string;
  /** When the partition was applied, in ms from the start of the load. */
  cutAtMs: number;
  /** From the cut until the other nodes flagged the node failed. */
  seenAfterMs: number | undefined;
  /** When the partition was healed (ms from the start of the load). */
  healedAtMs: number | undefined;
  /** What the revert saw: the node rejoined as a replica of the promoted one, or as a primary. */
  rejoined: string | undefined;
  durable: boolean;
  /** Acknowledged events lost in the whole run (a partition is the only fault of such scenarios). */
  lost: number;
  /** The send times of the lost events, in ms from the cut: the window in which they were written. */
  lostSentMs: [number, number] | undefined;
}

/**
 * The account of the first partition of a run, or undefined when it had none (or it was not applied).
 * `startMs` is the load's start (ms since the epoch), to which the audit's send times are relative.
 */
export function splitBrain(o: {
  timeline: TimelineEntry[];
  faults: (FaultOutcome | { kind: string; error: string })[];
  lost: number;
  lostSpan: LostWindow | undefined;
  startMs: number;
  durable: boolean;
}): SplitBrain | undefined {
  const f = o.faults.find((x): x is FaultOutcome => x.kind === 'partition' && 'applied' in x);
  const cut = o.timeline.find((e) => e.kind === 'fault' && e.text.startsWith('partition at'));
  if (!f || !cut) return undefined;
  const rel = [o.lostSpan?.after, o.lostSpan?.before]
    .filter((t): t is number => t !== undefined)
    .map((t) => t - o.startMs - cut.atMs);
  return {
    node: (f.target as NodeTarget).address,
    cutAtMs: cut.atMs,
    seenAfterMs: f.seen ? f.seenAfterMs : undefined,
    // The table is deleted once the hold is over, or once the partition was seen when that took longer.
    healedAtMs: f.reverted !== undefined ? cut.atMs + Math.max(f.durationMs ?? 0, f.seenAfterMs ?? 0) : undefined,
    rejoined: f.reverted?.split('; ').find((p) => p.includes('rejoined')),
    durable: o.durable,
    lost: o.lost,
    lostSentMs: o.lost > 0 && rel.length ? [Math.min(...rel), Math.max(...rel)] : undefined,
  };
}
