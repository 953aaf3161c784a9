import type { FaultOutcome } from '../inject.js';
import { checkGate, type GateResult, type Phase } from './gates.js';
import { recoveryMs, steadyLevel, type Second } from './recovery.js';
import type { Gate, Scenario, ScenarioFault } from './scenario.js';

/** What the runner reads every second while the run goes on. */
export interface LiveSample {
  /** Entries waiting or pending over every stage. */
  lag: number;
  health: string;
  deadLetters: number;
  /** Time since the last commit at the sink, ms. */
  stallMs: number;
}

/** What is known once the load is over and the pipeline drained (or given up on). */
export interface FinalData {
  produced: number;
  delivered: number;
  lost: number;
  duplicates: number;
  undelivered: number;
  deadLettered: number;
  /** Events committed at the sink per second of the load (the commit clock). */
  throughput: { t: number; events: number }[];
  /** p99 latency (ms) of the events sent in each second of the load. */
  p99: { t: number; p99: number }[];
  /** The longest time with no commit at the sink while the load ran, ms. */
  unavailabilityMs: number;
}

export interface LoadHandle {
  /** Resolves when the load has sent everything, or was stopped. */
  done: Promise<void>;
  stop(): void;
}

/** Everything the runner does to the world, so that its logic runs on a fake clock in tests. */
export interface RunnerDeps {
  /** ms. */
  now(): number;
  /** Waits `ms`, or less when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  startLoad(): LoadHandle;
  /** Applies a fault, holds it (until `signal` aborts the hold), reverts it. */
  inject(f: ScenarioFault, signal: AbortSignal): Promise<FaultOutcome>;
  probe(): Promise<LiveSample>;
  /** Drains the pipeline (briefly when `aborted`) and measures the run. */
  finish(aborted: boolean): Promise<FinalData>;
  rollback(action: Scenario['rollbacks'][number]): Promise<string>;
  say(line: string): void;
  /** The run's progress, every tick and at each change of phase (a live screen). */
  progress?: ((p: ScenarioProgress) => void) | undefined;
  /** Ctrl-C: the run stops as an abort gate would stop it. */
  signal?: AbortSignal;
}

/** Where a run stands: its phase, the live metrics last read, the gates checked so far. */
export interface ScenarioProgress {
  phase: 'before the faults' | 'faults' | 'after the faults' | 'measuring' | 'rolling back' | 'done';
  /** ms from the start of the load. */
  atMs: number;
  sample: LiveSample | undefined;
  gates: { held: number; failed: number; last: GateResult | undefined };
}

export type Verdict = 'passed' | 'deviated' | 'invalid' | 'aborted';

/** The exit code of each verdict. */
export const VERDICT_EXIT: Record<Verdict, number> = { passed: 0, deviated: 1, invalid: 2, aborted: 3 };

export interface TimelineEntry {
  /** ms from the start of the load. */
  atMs: number;
  kind: 'load' | 'fault' | 'gate' | 'abort' | 'rollback' | 'deployment';
  text: string;
}

export interface PhaseFigures {
  fromMs: number;
  toMs: number;
  /** The worst second's p99 (ms) among the events sent in the phase. */
  p99: number | undefined;
  /** Mean events per second at the sink. */
  throughput: number | undefined;
  /** The largest backlog sampled. */
  lag: number | undefined;
}

export interface ScenarioOutcome {
  title: string;
  verdict: Verdict;
  /** Why, in words. */
  reason: string;
  load: Scenario['load'];
  durationMs: number;
  timeline: TimelineEntry[];
  gates: GateResult[];
  faults: (FaultOutcome | { kind: string; error: string })[];
  phases: Record<Phase, PhaseFigures>;
  seconds: (Second & { p99?: number | undefined })[];
  final: FinalData | undefined;
  unavailabilityMs: number | undefined;
  recoveryMs: number | undefined;
}

/** How often live metrics are read and `during` gates checked. */
export const TICK_MS = 1000;
/** How long after its planned end the load may still be sending (writes waiting for answers) before the run stops waiting. */
export const LOAD_GRACE_MS = 30_000;
/** A plain progress line every this many ticks (a run is silent between its events otherwise). */
const PROGRESS_EVERY = 5;

function liveValue(g: Gate, s: LiveSample): number | string {
  switch (g.metric) {
    case 'lag':
      return s.lag;
    case 'health':
      return s.health;
    case 'dead_letters':
      return s.deadLetters;
    default:
      return s.stallMs;
  }
}

/**
 * Runs one scenario: the load from the start; the steady-state gates on the live metrics just before
 * the first fault (not steady: no fault is applied); each fault at its time; every second the
 * `during` gates (one with `abort: true` that fails stops the load and ends the faults' holds, so
 * they revert at once); the measurement once the load is over; the `after` gates; and the
 * rollbacks, always. Verdict: invalid when a fault could not be applied or was not seen, aborted,
 * deviated when a gate failed (or the system was not steady), else passed.
 */
export async function runScenario(s: Scenario, d: RunnerDeps): Promise<ScenarioOutcome> {
  const t0 = d.now();
  const at = () => d.now() - t0;
  const timeline: TimelineEntry[] = [];
  const note = (kind: TimelineEntry['kind'], text: string) => {
    timeline.push({ atMs: Math.round(at()), kind, text });
    d.say(`${(at() / 1000).toFixed(1)}s ${kind}: ${text}`);
  };
  const gates: GateResult[] = [];
  const samples: { t: number; sample: LiveSample }[] = [];
  const method = [...s.method].sort((a, b) => a.at - b.at);
  const firstAt = method[0]!.at;
  const holds = new AbortController();
  const running: Promise<FaultOutcome | { kind: string; error: string }>[] = [];
  let aborted: string | undefined;
  let notSteady: string | undefined;
  let final: FinalData | undefined;
  let faultsDone = false;
  let loadDone = false;
  let stuck = false;

  const progress = (phase: ScenarioProgress['phase']) =>
    d.progress?.({
      phase,
      atMs: Math.round(at()),
      sample: samples[samples.length - 1]?.sample,
      gates: { held: gates.filter((g) => g.ok).length, failed: gates.filter((g) => !g.ok).length, last: gates.at(-1) },
    });
  const livePhase = () => (next === 0 ? 'before the faults' : faultsDone ? 'after the faults' : 'faults');

  note('load', `${s.load.rate}/s for ${s.load.duration / 1000}s over ${s.load.keys} keys`);
  const load = d.startLoad();
  void load.done.finally(() => (loadDone = true));
  let next = 0;
  try {
    for (;;) {
      const sample = await d.probe();
      samples.push({ t: at(), sample });
      if (samples.length % PROGRESS_EVERY === 0)
        d.say(
          `${(at() / 1000).toFixed(1)}s progress: backlog ${sample.lag}, health ${sample.health}, last commit at the sink ${sample.stallMs} ms ago`,
        );
      while (next < method.length && method[next]!.at <= at() && !notSteady && !aborted) {
        if (next === 0) {
          for (const g of s.steady_state) {
            const r = checkGate(g, 'steady', liveValue(g, sample), undefined, at());
            gates.push(r);
            if (!r.ok) notSteady = `${g.metric} ${r.value} is not ${r.expect} before the method`;
          }
          if (notSteady) {
            note('gate', `not steady: ${notSteady}; no fault applied`);
            load.stop();
            break;
          }
        }
        const f = method[next++]!;
        note('fault', `${f.fault} at ${f.at / 1000}s${f.for ? ` for ${f.for / 1000}s` : ''}`);
        running.push(
          d.inject(f, holds.signal).then(
            (o) => {
              note(
                'fault',
                `${o.kind}: ${o.applied}; ${o.seen ? `seen after ${o.seenAfterMs} ms` : 'NOT seen'}; ${o.reverted ?? `revert failed: ${o.revertError}`}`,
              );
              return o;
            },
            (err: Error) => {
              note('fault', `${f.fault}: could not be applied: ${err.message}`);
              return { kind: f.fault, error: err.message };
            },
          ),
        );
        if (next === method.length) void Promise.all(running).then(() => (faultsDone = true));
      }
      if (next > 0 && !notSteady) {
        for (const g of s.gates.during) {
          const r = checkGate(g, 'during', liveValue(g, sample), undefined, at());
          gates.push(r);
          if (!r.ok && g.abort && !aborted) {
            aborted = `during gate ${g.metric} ${r.expect} failed: ${r.value}`;
            note('abort', `${aborted}; stopping the load and reverting the faults`);
            holds.abort();
            load.stop();
          }
        }
      }
      if (d.signal?.aborted && !aborted) {
        aborted = 'interrupted (Ctrl-C)';
        note('abort', `${aborted}; stopping the load and reverting the faults`);
        holds.abort();
        load.stop();
      }
      if (!loadDone && at() > s.load.duration + LOAD_GRACE_MS) {
        note('load', `not done ${LOAD_GRACE_MS / 1000}s after its end (writes that never got an answer): stopped`);
        load.stop();
        stuck = true;
      }
      progress(livePhase());
      if (aborted || notSteady || stuck || (loadDone && (faultsDone || next === 0))) break;
      const untilFault = next < method.length ? method[next]!.at - at() : Infinity;
      await d.sleep(Math.max(0, Math.min(TICK_MS - (at() % TICK_MS), untilFault)), d.signal);
    }
    // A load stuck on writes that never get an answer must not hold the run (and its rollbacks) forever.
    if (!(await Promise.race([load.done.then(() => true), d.sleep(LOAD_GRACE_MS).then(() => false)])))
      note('load', `not done ${LOAD_GRACE_MS / 1000}s after it was stopped: measured as it stands`);
  } finally {
    load.stop();
  }
  const faults = await Promise.all(running);
  progress('measuring');
  try {
    final = await d.finish(Boolean(aborted || notSteady));
  } finally {
    if (s.rollbacks.length) progress('rolling back');
    for (const action of s.rollbacks) {
      const text = await d.rollback(action).catch((err: Error) => `failed: ${err.message}`);
      note('rollback', `${action}: ${text}`);
    }
  }

  // Phases: steady before the first fault (after the warm-up), during until the faults are reverted
  // and the pipeline recovered, after until the end of the load.
  const endMs = s.load.duration;
  const outcomes = faults.filter((f): f is FaultOutcome => 'seen' in f);
  // `faults` are in the order of `method` (each launched in turn).
  const lastRevert = Math.max(firstAt, ...faults.map((f, i) => method[i]!.at + ('seen' in f ? f.totalMs : 0)));
  // Every second of the run, those in which the sink committed nothing included: a stall shows as zeros.
  const committed = new Map((final?.throughput ?? []).map((w) => [w.t, w.events]));
  const lastT = Math.max(-1, ...committed.keys());
  const seconds: ScenarioOutcome['seconds'] = Array.from({ length: lastT + 1 }, (_, t) => ({
    t,
    throughput: committed.get(t) ?? 0,
    lag: samples.find((x) => Math.floor(x.t / 1000) === t)?.sample.lag,
    p99: final?.p99.find((p) => p.t === t)?.p99,
  }));
  const phase = (fromMs: number, toMs: number): PhaseFigures => {
    const inside = seconds.filter((x) => x.t * 1000 >= fromMs && x.t * 1000 < toMs);
    const p99s = inside.map((x) => x.p99).filter((x): x is number => x !== undefined);
    const lags = samples.filter((x) => x.t >= fromMs && x.t < toMs).map((x) => x.sample.lag);
    return {
      fromMs,
      toMs,
      p99: p99s.length ? Math.max(...p99s) : undefined,
      throughput: inside.length ? inside.reduce((a, x) => a + x.throughput, 0) / inside.length : undefined,
      lag: lags.length ? Math.max(...lags) : undefined,
    };
  };
  const steady = steadyLevel(seconds, s.load.warmup, firstAt);
  const recovery =
    steady && outcomes.length ? recoveryMs(seconds, firstAt, steady, Math.floor(endMs / 1000) - 1) : undefined;
  // During lasts until the faults are reverted and the pipeline has recovered from them.
  const duringEnd = Math.min(endMs, Math.max(lastRevert, recovery === undefined ? endMs : firstAt + recovery));
  const phases: Record<Phase, PhaseFigures> = {
    steady: phase(s.load.warmup, firstAt),
    during: phase(firstAt, duringEnd),
    after: phase(duringEnd, endMs),
  };

  if (final && !aborted && !notSteady) {
    const value = (g: Gate): number | undefined => {
      switch (g.metric) {
        case 'lost':
          return final!.lost;
        case 'duplicates':
          return final!.duplicates;
        case 'undelivered':
          return final!.undelivered;
        case 'unavailability':
          return final!.unavailabilityMs;
        case 'recovery':
          return recovery;
        case 'p99':
          return phases[g.phase ?? 'during'].p99;
        case 'dead_letters':
          return final!.deadLettered;
        case 'lag':
          return phases.after.lag;
        default:
          return undefined;
      }
    };
    const steadyValue = (g: Gate): number | undefined =>
      g.metric === 'p99' ? phases.steady.p99 : g.metric === 'lag' ? phases.steady.lag : undefined;
    for (const g of s.gates.after) {
      const r =
        g.metric === 'health'
          ? checkGate(g, 'after', samples[samples.length - 1]?.sample.health, undefined, at())
          : checkGate(g, 'after', value(g), steadyValue(g), at());
      gates.push(r);
      note(
        'gate',
        `${g.metric}${g.metric === 'p99' ? ` (${g.phase ?? 'during'})` : ''} ${r.value ?? 'not measured'} ${r.expect}: ${r.ok ? 'ok' : 'FAILED'}`,
      );
    }
  }

  progress('done');
  const unseen = faults.filter((f) => 'error' in f || !f.seen);
  const failedGates = gates.filter((g) => !g.ok);
  let verdict: Verdict = 'passed';
  let reason = 'every fault was seen to take effect and every gate held';
  if (unseen.length) {
    verdict = 'invalid';
    reason = `${unseen.map((f) => f.kind).join(', ')}: not applied or not seen to take effect; the run says nothing`;
  } else if (aborted) {
    verdict = 'aborted';
    reason = aborted;
  } else if (stuck) {
    verdict = 'deviated';
    reason = `the load did not finish: writes got no answer ${LOAD_GRACE_MS / 1000}s after its end`;
  } else if (notSteady) {
    verdict = 'deviated';
    reason = `not steady before the method: ${notSteady}`;
  } else if (failedGates.length) {
    verdict = 'deviated';
    reason = failedGates
      .map(
        (g) =>
          `${g.phase} ${g.metric} ${typeof g.value === 'number' ? Math.round(g.value * 10) / 10 : (g.value ?? 'not measured')} (${g.expect})`,
      )
      .join('; ');
  }
  return {
    title: s.title,
    verdict,
    reason,
    load: s.load,
    durationMs: Math.round(at()),
    timeline,
    gates,
    faults,
    phases,
    seconds,
    final,
    unavailabilityMs: final?.unavailabilityMs,
    recoveryMs: recovery,
  };
}
