import { describe, expect, it } from 'vitest';
import {
  describeStep,
  findMaxRate,
  type MaxRateDriver,
  type MaxRateOptions,
  type MaxRateStep,
} from '../src/bench/max-rate.js';

const SAMPLE_MS = 250;

/** Lag samples every 250 ms over a 3 s step from a function of the time in seconds. */
const curve = (f: (t: number) => number, n = 13): number[] =>
  Array.from({ length: n }, (_, i) => Math.round(f((i * SAMPLE_MS) / 1000)));

/** What one scripted step observes: see {@link oneStep}. */
interface Script {
  /** The lag at each sample: every 250 ms from the step's start, the last when the send ends. */
  lags: number[];
  /** Events the sender appends (default: all of 1000/s over the step). */
  sent?: number;
  /** ms after the send until the lag is 0, or null: not within the 2 s grace. */
  drainMs: number | null;
}

/**
 * Runs a --max search that has the budget of one step at 1000/s, on a fake clock whose pipeline
 * shows the scripted lags, and returns that step.
 */
async function oneStep(script: Script, rule?: MaxRateOptions['rule']): Promise<MaxRateStep> {
  const { lags, drainMs } = script;
  const stepMs = (lags.length - 1) * SAMPLE_MS;
  const graceMs = 2000;
  const drainAt = drainMs === null ? Infinity : stepMs + drainMs;
  let now = 0;
  let sending = false;
  let finish: (() => void) | undefined;
  const driver: MaxRateDriver = {
    send(rate, ms) {
      sending = true;
      return new Promise((resolve) => {
        finish = () => resolve({ sent: script.sent ?? (rate * ms) / 1000, durationMs: ms });
      });
    },
    lag: async () => (now >= drainAt ? 0 : lags[Math.min(Math.round(now / SAMPLE_MS), lags.length - 1)]!),
    // A sleep ends early at the send's end (the search races it with the send) and at the drain, so both
    // fall on the scripted times.
    sleep: async (ms) => {
      now = Math.min(now + ms, sending ? stepMs : drainAt);
      if (sending && now >= stepMs) {
        sending = false;
        finish?.();
      }
    },
    now: () => now,
    aborted: () => false,
  };
  const r = await findMaxRate(driver, {
    startRate: 1000,
    budgetMs: stepMs + graceMs,
    stepMs,
    graceMs,
    sampleMs: SAMPLE_MS,
    ...(rule ? { rule } : {}),
  });
  expect(r.steps.length).toBe(1);
  const step = r.steps[0]!;
  // The step observed what the script says.
  expect(step).toMatchObject({
    rate: 1000,
    durationMs: stepMs,
    drainMs,
    peakLag: Math.max(...lags),
    endLag: lags.at(-1),
  });
  return step;
}

describe('findMaxRate: is a step sustainable?', () => {
  it.each<[string, Partial<Script>, { sustainable: boolean; reason: string }]>([
    ['a flat small lag that drains', {}, { sustainable: true, reason: 'ok' }],
    ['a high but steady lag', { lags: curve(() => 500) }, { sustainable: true, reason: 'ok' }],
    [
      'a lag oscillating between 200 and 400',
      { lags: curve((t) => (Math.round(t * 4) % 2 ? 400 : 200)) },
      { sustainable: true, reason: 'ok' },
    ],
    [
      'jitter from 0 to 60 entries (under the floor)',
      { lags: curve((t) => (t < 2 ? 0 : 60)) },
      { sustainable: true, reason: 'ok' },
    ],
    [
      'a lag growing linearly from 0',
      { lags: curve((t) => 400 * t), drainMs: 400 },
      { sustainable: false, reason: 'lag-growing' },
    ],
    [
      'a lag growing from a plateau',
      { lags: curve((t) => 300 + 300 * t), drainMs: 400 },
      { sustainable: false, reason: 'lag-growing' },
    ],
    [
      'last-third peak exactly 2 x first + floor',
      { lags: [100, 200, 300], drainMs: 400 },
      { sustainable: true, reason: 'ok' },
    ],
    [
      'last-third peak one above 2 x first + floor',
      { lags: [100, 200, 301], drainMs: 400 },
      { sustainable: false, reason: 'lag-growing' },
    ],
    [
      'a grown lag that drains in 149 ms is jitter',
      { lags: curve((t) => 400 * t), drainMs: 149 },
      { sustainable: true, reason: 'ok' },
    ],
    [
      'a grown lag that takes 150 ms to drain is growth',
      { lags: curve((t) => 400 * t), drainMs: 150 },
      { sustainable: false, reason: 'lag-growing' },
    ],
    ['growth is not judged on fewer than 3 samples', { lags: [0, 5000] }, { sustainable: true, reason: 'ok' }],
    ['no drain within the grace', { drainMs: null }, { sustainable: false, reason: 'no-drain' }],
    ['the sender at exactly 95% of the rate', { sent: 2850 }, { sustainable: true, reason: 'ok' }],
    ['the sender below 95% of the rate', { sent: 2849 }, { sustainable: false, reason: 'sender-behind' }],
    [
      'sender-behind is reported before a growing lag',
      { sent: 1000, lags: curve((t) => 400 * t), drainMs: null },
      { sustainable: false, reason: 'sender-behind' },
    ],
    [
      'a growing lag is reported before no drain',
      { lags: curve((t) => 400 * t), drainMs: null },
      { sustainable: false, reason: 'lag-growing' },
    ],
  ])('%s', async (_, o, expected) => {
    const step = await oneStep({ lags: curve(() => 5), drainMs: 20, ...o });
    expect({ sustainable: step.sustainable, reason: step.reason }).toEqual(expected);
  });

  it('takes its thresholds from the rule', async () => {
    const script = { lags: curve((t) => 10 + 10 * t), drainMs: 400 };
    expect((await oneStep(script)).sustainable).toBe(true);
    const rule = { minAchievedRatio: 0.95, growthFactor: 1.5, lagFloor: 0, growthMinDrainMs: 150 };
    expect(await oneStep(script, rule)).toMatchObject({ sustainable: false, reason: 'lag-growing' });
  });
});

/**
 * A simulated pipeline on a fake clock: it processes `capacity` events/s, the sender manages at
 * most `senderMax` events/s, and the lag is the backlog in events.
 */
function simulation(o: { capacity: number; senderMax?: number; abortAfterSteps?: number }) {
  let now = 0;
  let backlog = 0;
  let input = 0;
  let sendEnd = Infinity;
  let finishSend: (() => void) | undefined;
  let steps = 0;
  const advance = (to: number) => {
    backlog = Math.max(0, backlog + ((input - o.capacity) * (to - now)) / 1000);
    now = to;
    if (now >= sendEnd) {
      input = 0;
      sendEnd = Infinity;
      finishSend?.();
    }
  };
  const driver: MaxRateDriver = {
    send(rate, ms) {
      const achieved = Math.min(rate, o.senderMax ?? Infinity);
      input = achieved;
      sendEnd = now + ms;
      return new Promise((resolve) => {
        finishSend = () => resolve({ sent: Math.floor((achieved * ms) / 1000), durationMs: ms });
      });
    },
    lag: async () => Math.ceil(backlog),
    // What the search awaits while sending is a race of its sleep with the send: it ends at the send's end.
    sleep: async (ms) => advance(Math.min(now + ms, sendEnd)),
    now: () => now,
    aborted: () => o.abortAfterSteps !== undefined && steps >= o.abortAfterSteps,
    onStep: () => void steps++,
  };
  return driver;
}

describe('findMaxRate on a simulated pipeline', () => {
  const opts = { startRate: 1000, budgetMs: 300_000, stepMs: 3000, graceMs: 2000 };

  it('steps up by 1.5, then bisects to within 5% of the capacity', async () => {
    const r = await findMaxRate(simulation({ capacity: 10_000 }), opts);
    expect(r.stoppedBy).toBe('converged');
    expect(r.rate).not.toBeNull();
    expect(r.rate!).toBeGreaterThan(10_000 / 1.05);
    expect(r.rate!).toBeLessThan(10_500);
    expect(r.firstUnsustainable!).toBeGreaterThan(r.rate!);
    expect(r.firstUnsustainable!).toBeLessThanOrEqual(Math.ceil(r.rate! * 1.05));
    const grow = r.steps.filter((s) => s.phase === 'grow');
    expect(grow.map((s) => s.rate)).toEqual([1000, 1500, 2250, 3375, 5063, 7594, 11391]);
    expect(grow.slice(0, -1).every((s) => s.sustainable)).toBe(true);
    expect(grow[grow.length - 1]).toMatchObject({ sustainable: false, reason: 'lag-growing' });
    expect(r.steps.slice(grow.length).every((s) => s.phase === 'bisect')).toBe(true);
    for (const s of r.steps) expect(Math.abs(s.achievedRate - s.rate)).toBeLessThanOrEqual(1);
    expect(r.achievedRate).toBe(r.steps.find((s) => s.rate === r.rate)!.achievedRate);
  });

  it("reports each step's end lag and peak lag", async () => {
    const r = await findMaxRate(simulation({ capacity: 10_000 }), opts);
    const bad = r.steps.find((s) => !s.sustainable)!;
    expect(bad.peakLag).toBeGreaterThan(0);
    expect(bad.endLag).toBe(bad.peakLag);
    for (const s of r.steps.filter((x) => x.sustainable)) expect(s.endLag).toBe(0);
  });

  it('stays within the time budget', async () => {
    const r = await findMaxRate(simulation({ capacity: 10_000 }), { ...opts, budgetMs: 10_000 });
    // A third step would end, grace included, at 6 + 3 + 2 = 11 s.
    expect(r.stoppedBy).toBe('time');
    expect(r.steps.length).toBe(2);
    expect(r.elapsedMs).toBeLessThanOrEqual(10_000);
    expect(r.rate).toBe(1500);
    expect(r.firstUnsustainable).toBeNull();
  });

  it('finds nothing sustainable when nothing processes, and stops on time', async () => {
    const r = await findMaxRate(simulation({ capacity: 0 }), { ...opts, budgetMs: 30_000 });
    expect(r.rate).toBeNull();
    expect(r.firstUnsustainable).toBe(1000);
    expect(r.stoppedBy).toBe('time');
    expect(r.elapsedMs).toBeLessThanOrEqual(30_000);
    // The first step's backlog never drains, which takes the rest of the budget.
    expect(r.steps.length).toBe(1);
  });

  it('bisects below the starting rate when the first step is already too much', async () => {
    const r = await findMaxRate(simulation({ capacity: 3000 }), { ...opts, startRate: 8000 });
    expect(r.steps[0]).toMatchObject({ rate: 8000, sustainable: false, phase: 'grow' });
    expect(r.rate!).toBeGreaterThan(3000 / 1.05);
    expect(r.rate!).toBeLessThan(3150);
  });

  it('counts a sender that cannot keep up as unsustainable', async () => {
    const r = await findMaxRate(simulation({ capacity: 100_000, senderMax: 5000 }), opts);
    expect(r.steps.some((s) => s.reason === 'sender-behind')).toBe(true);
    expect(r.rate!).toBeLessThanOrEqual(5000 / 0.95);
    expect(r.rate!).toBeGreaterThan(4500);
  });

  it('stops when aborted', async () => {
    const r = await findMaxRate(simulation({ capacity: 10_000, abortAfterSteps: 2 }), opts);
    expect(r.stoppedBy).toBe('aborted');
    expect(r.steps.length).toBe(2);
  });
});

describe('describeStep', () => {
  it('names the step, its rate, the achieved rate, the lags and the verdict', () => {
    const line = describeStep(
      {
        rate: 22_500,
        phase: 'grow',
        sent: 67_000,
        durationMs: 3000,
        achievedRate: 22_333,
        endLag: 3,
        peakLag: 12,
        drainMs: 40,
        sustainable: false,
        reason: 'lag-growing',
      },
      3,
    );
    expect(line).toBe(
      'max: step 3 (grow) at 22,500/s: achieved 22,333/s, peak lag 12, end lag 3, drained in 40 ms -> not sustainable (lag-growing)',
    );
  });
});
