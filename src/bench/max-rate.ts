/**
 * `bench --max`: the highest open-loop rate the running pipeline sustains.
 *
 * The search steps the rate up by `growth` (x1.5) from the starting rate until a step is not
 * sustainable, then bisects between the last sustainable and the first unsustainable rate until they
 * are within `resolution` of each other. Every step starts from a drained pipeline, and no step
 * starts unless it can finish (send plus grace) within the time budget, so the whole search stays
 * within `budgetMs` plus one final drain.
 */

/** A lag sample taken while a step was sending: ms since the step started, entries behind. */
export interface LagSample {
  t: number;
  lag: number;
}

/** What one step measured: the input of the decision rule. */
export interface StepObservation {
  /** Intended open-loop rate, events/s. */
  rate: number;
  /** Events handed to the pipeline (appended) during the step. */
  sent: number;
  /** How long sending took, ms (including flushing the producer). */
  durationMs: number;
  /** Pipeline lag (undelivered plus pending entries of every stage) sampled during the step. */
  samples: LagSample[];
  /** ms after the step stopped sending until the lag was 0, or null when it was not 0 within the grace. */
  drainMs: number | null;
}

/** Thresholds of the decision rule. */
export interface SustainRule {
  /** The sender must append at least this fraction of the intended events (else the producer, not the pipeline, is the limit). */
  minAchievedRatio: number;
  /** The lag "keeps growing" when its peak in the last third of the step exceeds this factor times its peak in the first third... */
  growthFactor: number;
  /** ...plus this many entries, which absorbs the jitter of a lag that is small anyway. */
  lagFloor: number;
  /**
   * ...and only when the backlog at the end took at least this long to drain: a lag that grew but
   * is worth less than this much work is the jitter of a pipeline that keeps up, not a backlog.
   */
  growthMinDrainMs: number;
}

/**
 * Defaults: the open-loop sender catches up after a pause, so a shortfall of more than 5% means it
 * could not keep the rate (the bench process, not the pipeline, was the limit). A lag growing
 * linearly from an empty pipeline peaks at 1/3 of its end value in the first third and at its end
 * value in the last third (a factor of 3), while a bounded lag keeps the same peak in both; 2 lies
 * between. The floor is in entries (one entry carries 1 to `--batch` events). A pipeline that keeps
 * up drains what the last sample saw within about one lag sample interval, one falling behind takes
 * several: the drain bound lies between (docs/PERFORMANCE.md has what was seen).
 */
const DEFAULT_SUSTAIN_RULE: SustainRule = {
  minAchievedRatio: 0.95,
  growthFactor: 2,
  lagFloor: 100,
  growthMinDrainMs: 150,
};

export type StepReason = 'ok' | 'sender-behind' | 'lag-growing' | 'no-drain';

/**
 * Is a step sustainable? Pure: the rule of `--max`, in this order:
 * 1. the sender appended at least `minAchievedRatio` of the intended events (`sender-behind` otherwise);
 * 2. the lag did not keep growing over the step: peak of the last third <= growthFactor x peak of the
 *    first third + lagFloor, or what it grew to drained within growthMinDrainMs (`lag-growing`
 *    otherwise; judged only with 3 samples or more);
 * 3. the lag reached 0 within the grace after the step (`no-drain` otherwise).
 */
function judgeStep(
  o: StepObservation,
  rule: SustainRule = DEFAULT_SUSTAIN_RULE,
): { sustainable: boolean; reason: StepReason } {
  const intended = (o.rate * o.durationMs) / 1000;
  if (intended > 0 && o.sent < rule.minAchievedRatio * intended) return { sustainable: false, reason: 'sender-behind' };
  if (o.samples.length >= 3) {
    const third = Math.max(1, Math.floor(o.samples.length / 3));
    const first = Math.max(...o.samples.slice(0, third).map((s) => s.lag));
    const last = Math.max(...o.samples.slice(-third).map((s) => s.lag));
    const worthIt = o.drainMs === null || o.drainMs >= rule.growthMinDrainMs;
    if (last > rule.growthFactor * first + rule.lagFloor && worthIt)
      return { sustainable: false, reason: 'lag-growing' };
  }
  if (o.drainMs === null) return { sustainable: false, reason: 'no-drain' };
  return { sustainable: true, reason: 'ok' };
}

/** One step of the search, as reported in `max.steps`. */
export interface MaxRateStep {
  rate: number;
  phase: 'grow' | 'bisect';
  sent: number;
  durationMs: number;
  /** Events appended per second of sending. */
  achievedRate: number;
  /** Lag at the last sample of the step (entries). */
  endLag: number;
  peakLag: number;
  drainMs: number | null;
  sustainable: boolean;
  reason: StepReason;
}

export interface MaxRateResult {
  /** The highest sustainable rate tried (events/s), null when none was. */
  rate: number | null;
  /** Achieved append rate of that step. */
  achievedRate: number | null;
  /** The lowest unsustainable rate tried, null when every step was sustainable. */
  firstUnsustainable: number | null;
  steps: MaxRateStep[];
  /** `converged`: within the resolution; `time`: the budget ran out; `aborted`: Ctrl-C. */
  stoppedBy: 'converged' | 'time' | 'aborted';
  elapsedMs: number;
  budgetMs: number;
  stepMs: number;
  graceMs: number;
}

/** What the search needs from the world; the bench passes the real pipeline, tests a simulation. */
export interface MaxRateDriver {
  /** Sends open loop at `rate` for `durationMs`, flushes, and reports the events appended and the time it took. */
  send(rate: number, durationMs: number): Promise<{ sent: number; durationMs: number }>;
  /** The pipeline's lag now, in entries (undelivered plus pending, all stages). */
  lag(): Promise<number>;
  sleep(ms: number): Promise<void>;
  /** Monotonic ms. */
  now(): number;
  aborted(): boolean;
  /** Called after every step (the bench prints a progress line). */
  onStep?(step: MaxRateStep, index: number): void;
}

export interface MaxRateOptions {
  startRate: number;
  budgetMs: number;
  stepMs: number;
  graceMs: number;
  /** Lag sampling period during steps and drains. */
  sampleMs?: number;
  growth?: number;
  /** Stop bisecting when the unsustainable rate is within this fraction above the sustainable one. */
  resolution?: number;
  rule?: SustainRule;
}

/**
 * Searches the highest sustainable rate (see the module comment).
 * @returns every step and the rate found; never throws for an unsustainable pipeline.
 */
export async function findMaxRate(d: MaxRateDriver, o: MaxRateOptions): Promise<MaxRateResult> {
  const sampleMs = o.sampleMs ?? 250;
  const drainPollMs = Math.min(sampleMs, 100);
  const growth = o.growth ?? 1.5;
  const resolution = o.resolution ?? 0.05;
  const t0 = d.now();
  const deadline = t0 + o.budgetMs;
  const steps: MaxRateStep[] = [];
  let good: MaxRateStep | undefined;
  let bad: number | undefined;
  let stoppedBy: MaxRateResult['stoppedBy'] = 'time';

  // Polls the lag until it is 0 or `ms` passed: ms it took, or null.
  const waitDrained = async (ms: number): Promise<number | null> => {
    const start = d.now();
    for (;;) {
      if ((await d.lag()) === 0) return d.now() - start;
      if (d.aborted() || d.now() - start >= ms) return null;
      // Polled faster than the step's samples: the drain time is reported, and it eats the budget.
      await d.sleep(Math.min(drainPollMs, Math.max(1, ms - (d.now() - start))));
    }
  };

  let rate = o.startRate;
  for (;;) {
    if (d.aborted()) {
      stoppedBy = 'aborted';
      break;
    }
    // Start a step only if it can finish, grace included, inside the budget.
    if (d.now() + o.stepMs + o.graceMs > deadline) break;
    const phase = bad === undefined ? 'grow' : 'bisect';
    const start = d.now();
    const samples: LagSample[] = [];
    let done = false;
    const sending = d.send(rate, o.stepMs).finally(() => {
      done = true;
    });
    // Sample while sending; the sample loop ends with the send, not on a timer.
    while (!done) {
      samples.push({ t: d.now() - start, lag: await d.lag() });
      if (!done) await Promise.race([d.sleep(sampleMs), sending]);
    }
    const { sent, durationMs } = await sending;
    samples.push({ t: d.now() - start, lag: await d.lag() });
    const drainMs = await waitDrained(o.graceMs);
    const verdict = judgeStep({ rate, sent, durationMs, samples, drainMs }, o.rule);
    const step: MaxRateStep = {
      rate: Math.round(rate),
      phase,
      sent,
      durationMs: Math.round(durationMs),
      achievedRate: durationMs > 0 ? Math.round((sent * 1000) / durationMs) : 0,
      endLag: samples[samples.length - 1]!.lag,
      peakLag: Math.max(...samples.map((s) => s.lag)),
      drainMs: drainMs === null ? null : Math.round(drainMs),
      ...verdict,
    };
    steps.push(step);
    d.onStep?.(step, steps.length);

    if (verdict.sustainable) {
      if (!good || rate > good.rate) good = step;
    } else {
      bad = bad === undefined ? rate : Math.min(bad, rate);
      // The next step must start from an empty pipeline, or it would inherit this one's backlog.
      const left = deadline - d.now();
      if (drainMs === null && (left <= 0 || (await waitDrained(left)) === null)) {
        stoppedBy = d.aborted() ? 'aborted' : 'time';
        break;
      }
    }
    if (bad === undefined) rate *= growth;
    else {
      const lo = good?.rate ?? 0;
      if (lo > 0 && bad <= lo * (1 + resolution)) {
        stoppedBy = 'converged';
        break;
      }
      rate = (lo + bad) / 2;
    }
  }
  return {
    rate: good?.rate ?? null,
    achievedRate: good?.achievedRate ?? null,
    firstUnsustainable: bad === undefined ? null : Math.round(bad),
    steps,
    stoppedBy,
    elapsedMs: Math.round(d.now() - t0),
    budgetMs: o.budgetMs,
    stepMs: o.stepMs,
    graceMs: o.graceMs,
  };
}

/** The progress line of one step, e.g. `max: step 3 (grow) at 22,500/s: achieved 22,480/s, peak lag 12, end lag 3, drained in 40 ms -> sustainable`. */
export function describeStep(s: MaxRateStep, index: number): string {
  const n = (v: number) => v.toLocaleString('en');
  const drained = s.drainMs === null ? 'not drained within the grace' : `drained in ${n(s.drainMs)} ms`;
  return `max: step ${index} (${s.phase}) at ${n(s.rate)}/s: achieved ${n(s.achievedRate)}/s, peak lag ${n(s.peakLag)}, end lag ${n(s.endLag)}, ${drained} -> ${s.sustainable ? 'sustainable' : `not sustainable (${s.reason})`}`;
}
