import { formatDuration } from '../duration.js';
import { RuntimeError } from '../errors.js';
import type { ChaosEnv } from './chaos-env.js';
import type { FaultAction } from './fault-action.js';
import { describeTarget, type ActiveFault, type Fault } from './fault.js';
import { FAULT_ACTIONS, KERNEL_FAULTS } from './faults/index.js';
import { activeFaults, forgetFault, recordFault } from './fault-store.js';
import { appendEvent } from '../embedded/events-log.js';

/** How long a fault may take to be seen: a failover's handshake takes a few seconds at most. */
export const CHECK_MS = 10_000;

/** What became of one fault: applied, seen (or not), reverted (or not). */
export interface FaultOutcome {
  id: string;
  kind: Fault['kind'];
  target: Fault['target'];
  params: Record<string, unknown>;
  durationMs?: number;
  applied: string;
  /** Whether the fault was seen to take effect: only then does a result under it count. */
  seen: boolean;
  evidence?: string;
  seenAfterMs?: number;
  /** What the revert did, or why it failed (the fault then stays recorded for `chaos heal`). */
  reverted?: string;
  revertError?: string;
  /** From the apply to the end of the revert. */
  totalMs: number;
}

/** Resolves after `ms`, or at once when `signal` aborts (then the fault is reverted early). */
function hold(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

async function seenWithin(env: ChaosEnv, action: FaultAction, f: ActiveFault, ms: number) {
  const t0 = performance.now();
  for (;;) {
    const evidence = await action.check(env, f).catch(() => undefined);
    if (evidence !== undefined) return { evidence, afterMs: performance.now() - t0 };
    // Not cut short by Ctrl-C: a fault that was applied is checked, so its result says whether it counted.
    if (performance.now() - t0 > ms) return undefined;
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Reverts one recorded fault and forgets it; a failed revert leaves it recorded. */
async function revertOne(env: ChaosEnv, f: ActiveFault): Promise<{ reverted?: string; revertError?: string }> {
  try {
    const reverted = await FAULT_ACTIONS[f.kind].revert(env, f);
    forgetFault(env.home, f.id);
    if (env.deployment) appendEvent(env.home, { kind: 'healed', process: describeTarget(f.target), reason: f.kind });
    return { reverted };
  } catch (err) {
    return { revertError: (err as Error).message };
  }
}

/**
 * Injects faults of one kind together (e.g. two workers killed at once): each is recorded, applied,
 * checked until it is seen (within `CHECK_MS`), held for its duration when it lasts (Ctrl-C ends
 * the hold early), and reverted, always: also when it was not seen, when the apply failed half way,
 * or on Ctrl-C. A fault whose revert fails stays recorded, for `chaos heal`.
 */
export async function injectFaults(env: ChaosEnv, faults: Fault[]): Promise<FaultOutcome[]> {
  const now = Date.now();
  const active: ActiveFault[] = faults.map((f) => ({
    ...f,
    appliedAt: new Date(now).toISOString(),
    ...(f.durationMs !== undefined ? { until: new Date(now + f.durationMs).toISOString() } : {}),
    by: process.pid,
    source: env.source,
    urls: env.urls,
  }));
  const outcomes: FaultOutcome[] = active.map((f) => ({
    id: f.id,
    kind: f.kind,
    target: f.target,
    params: f.params,
    ...(f.durationMs !== undefined ? { durationMs: f.durationMs } : {}),
    applied: '',
    seen: false,
    totalMs: 0,
  }));
  const t0 = performance.now();
  let failure: unknown;
  try {
    for (const [i, f] of active.entries()) {
      recordFault(env.home, f);
      outcomes[i]!.applied = await FAULT_ACTIONS[f.kind].apply(env, f);
      // On the deployment's own events, where `health` and `top` show them beside exits and failovers.
      if (env.deployment) appendEvent(env.home, { kind: 'fault', process: describeTarget(f.target), reason: f.kind });
      env.say(`${f.kind} ${describeTarget(f.target)}: ${outcomes[i]!.applied}`);
    }
    await Promise.all(
      active.map(async (f, i) => {
        const action = FAULT_ACTIONS[f.kind];
        const within = action.checkMs?.(env) ?? CHECK_MS;
        const seen = await seenWithin(env, action, f, within);
        const o = outcomes[i]!;
        if (seen) Object.assign(o, { seen: true, evidence: seen.evidence, seenAfterMs: Math.round(seen.afterMs) });
        env.say(
          seen
            ? `${f.kind} ${describeTarget(f.target)}: seen after ${formatDuration(seen.afterMs)}: ${seen.evidence}`
            : `${f.kind} ${describeTarget(f.target)}: NOT seen to take effect within ${within / 1000}s`,
        );
      }),
    );
    const longest = Math.max(0, ...active.map((f) => f.durationMs ?? 0));
    if (longest > 0) {
      env.say(`holding for ${formatDuration(longest)} (Ctrl-C reverts now)`);
      await hold(longest - (performance.now() - t0), env.signal);
    }
  } catch (err) {
    failure = err;
  } finally {
    // Every recorded fault is reverted, whatever happened above.
    const recorded = new Set(activeFaults(env.home).map((f) => f.id));
    await Promise.all(
      active.map(async (f, i) => {
        if (!recorded.has(f.id)) return;
        const r = await revertOne(env, f);
        Object.assign(outcomes[i]!, r, { totalMs: Math.round(performance.now() - t0) });
        env.say(
          r.reverted !== undefined
            ? `${f.kind} ${describeTarget(f.target)}: reverted: ${r.reverted}`
            : `${f.kind} ${describeTarget(f.target)}: REVERT FAILED: ${r.revertError} (\`streamctl chaos heal\` tries again)`,
        );
      }),
    );
  }
  if (failure) throw failure;
  return outcomes;
}

/** The source of a fault aimed at the embedded deployment. */
const EMBEDDED = 'embedded deployment';

/** What `chaos heal` did to one recorded fault. */
export interface HealOutcome {
  fault: ActiveFault;
  reverted?: string;
  revertError?: string;
}

/** Reverts every recorded fault, whoever applied it and whether that process still runs. */
export async function healAll(env: ChaosEnv): Promise<HealOutcome[]> {
  const out: HealOutcome[] = [];
  for (const f of activeFaults(env.home)) {
    if (!env.deployment && f.source === EMBEDDED && !KERNEL_FAULTS.includes(f.kind)) {
      // `down` stopped every process of it: no process is left stopped, killed or paused.
      forgetFault(env.home, f.id);
      out.push({ fault: f, reverted: 'the embedded deployment is not running: nothing of it is left to revert' });
    } else out.push({ fault: f, ...(await revertOne(env, f)) });
  }
  return out;
}

/**
 * A fault that was applied but not seen to take effect: the command exits 1.
 */
export function notSeenError(outcomes: FaultOutcome[]): RuntimeError | undefined {
  const missed = outcomes.filter((o) => !o.seen);
  if (missed.length === 0) return undefined;
  return new RuntimeError(
    'FAULT_NOT_SEEN',
    `${missed.map((o) => `${o.kind} ${describeTarget(o.target)}`).join(', ')}: applied but not seen to take effect`,
    'a result under this fault does not count; see `streamctl health`',
  );
}
