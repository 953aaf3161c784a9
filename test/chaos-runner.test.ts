import { describe, expect, it } from 'vitest';
import type { FaultOutcome } from '../src/chaos/inject.js';
import { recoveryMs, steadyLevel } from '../src/chaos/scenario/recovery.js';
import {
  runScenario,
  VERDICT_EXIT,
  type FinalData,
  type LiveSample,
  type RunnerDeps,
} from '../src/chaos/scenario/runner.js';
import { builtinScenarioFile, builtinScenarios } from '../src/chaos/scenario/builtin.js';
import { loadScenario, parseScenario, type ScenarioFault } from '../src/chaos/scenario/scenario.js';

/**
 * A clock that jumps to the next timer once every actor waits: the runner's ticks, the faults'
 * holds and the load all sleep on it, so a 20 s scenario runs in milliseconds.
 */
function fakeClock() {
  let now = 0;
  const timers: { at: number; fire: () => void }[] = [];
  let scheduled = false;
  const pump = () => {
    scheduled = false;
    if (timers.length === 0) return;
    timers.sort((a, b) => a.at - b.at);
    const t = timers.shift()!;
    now = Math.max(now, t.at);
    t.fire();
    schedule();
  };
  const schedule = () => {
    if (!scheduled) {
      scheduled = true;
      setImmediate(pump);
    }
  };
  return {
    now: () => now,
    sleep(ms: number, signal?: AbortSignal): Promise<void> {
      return new Promise((resolve) => {
        if (signal?.aborted) return resolve();
        const timer = { at: now + ms, fire: resolve };
        timers.push(timer);
        signal?.addEventListener(
          'abort',
          () => {
            timers.splice(timers.indexOf(timer), 1);
            resolve();
          },
          { once: true },
        );
        schedule();
      });
    },
  };
}

interface World {
  deps: RunnerDeps;
  injected: { fault: ScenarioFault; heldMs: number }[];
  rollbacks: string[];
  finishedAborted: boolean[];
  loadStoppedAt: number[];
}

/** A world whose pipeline runs at the load's rate but for the seconds in `dip`, with what `probe` says. */
function world(
  o: {
    rate?: number;
    dip?: number[];
    sample?: (t: number) => Partial<LiveSample>;
    seen?: boolean;
    injectError?: string;
    p99?: (t: number) => number;
    lost?: number;
    /** The load never finishes (its writes never get an answer), stopped or not. */
    stuckLoad?: boolean;
  } = {},
): World {
  const clock = fakeClock();
  const w: World = { deps: undefined!, injected: [], rollbacks: [], finishedAborted: [], loadStoppedAt: [] };
  const rate = o.rate ?? 1000;
  let stopLoad: () => void = () => undefined;
  let loadEndMs = 0;
  w.deps = {
    now: clock.now,
    sleep: clock.sleep,
    startLoad() {
      const stop = new AbortController();
      stopLoad = () => {
        if (!stop.signal.aborted) w.loadStoppedAt.push(clock.now());
        stop.abort();
      };
      return {
        done: o.stuckLoad ? new Promise<void>(() => undefined) : clock.sleep(loadEndMs, stop.signal),
        stop: () => stopLoad(),
      };
    },
    async inject(fault, signal) {
      const t0 = clock.now();
      if (o.injectError) throw new Error(o.injectError);
      await clock.sleep(fault.for ?? 0, signal);
      w.injected.push({ fault, heldMs: clock.now() - t0 });
      return {
        id: 'f',
        kind: fault.fault,
        target: { type: 'worker', name: 'analyze#1', stage: 'analyze', pid: 1 },
        params: {},
        applied: 'sent SIGSTOP',
        seen: o.seen ?? true,
        seenAfterMs: 1,
        evidence: 'stopped',
        reverted: 'sent SIGCONT',
        totalMs: clock.now() - t0,
      } satisfies FaultOutcome;
    },
    async probe() {
      return { lag: 5, health: 'ok', deadLetters: 0, stallMs: 10, ...o.sample?.(clock.now()) };
    },
    async finish(aborted): Promise<FinalData> {
      w.finishedAborted.push(aborted);
      const seconds = Math.floor(loadEndMs / 1000);
      return {
        produced: rate * seconds,
        delivered: rate * seconds - (o.lost ?? 0),
        lost: o.lost ?? 0,
        duplicates: 0,
        undelivered: 0,
        deadLettered: 0,
        throughput: Array.from({ length: seconds }, (_, t) => ({ t, events: o.dip?.includes(t) ? 0 : rate })),
        p99: Array.from({ length: seconds }, (_, t) => ({ t, p99: o.p99?.(t) ?? 4 })),
        unavailabilityMs: (o.dip?.length ?? 0) * 1000,
      };
    },
    async rollback(action) {
      w.rollbacks.push(action);
      return 'done';
    },
    say: () => undefined,
  };
  // The load's length comes from the scenario: set by run() below.
  (w as World & { setLoad(ms: number): void }).setLoad = (ms) => (loadEndMs = ms);
  return w;
}

async function run(yaml: string, w: World) {
  const s = parseScenario(yaml, 'test.yaml');
  (w as World & { setLoad(ms: number): void }).setLoad(s.load.duration);
  return runScenario(s, w.deps);
}

const BASE = `
title: pause a worker
load: { rate: 1000, duration: 20s, warmup: 2s }
method:
  - { fault: pause-worker, at: 6s, for: 4s }
`;

describe('the scenario runner on a fake clock', () => {
  it('passed: the fault applied at its time and held for its duration, every gate held, the rollback ran', async () => {
    const w = world();
    const r = await run(
      `${BASE}
steady_state: [{ metric: health, equals: ok }]
gates:
  during: [{ metric: lag, max: 100 }]
  after:
    - { metric: lost, max: 0 }
    - { metric: p99, max: 3x steady }
    - { metric: recovery, max: 5s }
`,
      w,
    );
    expect(r.verdict).toBe('passed');
    expect(VERDICT_EXIT[r.verdict]).toBe(0);
    expect(w.injected).toHaveLength(1);
    expect(w.injected[0]!.heldMs).toBe(4000);
    expect(r.timeline.find((e) => e.kind === 'fault')!.atMs).toBe(6000);
    expect(r.gates.filter((g) => g.phase === 'during').length).toBeGreaterThanOrEqual(4);
    expect(r.gates.every((g) => g.ok)).toBe(true);
    expect(r.recoveryMs).toBe(0);
    expect(w.rollbacks).toEqual(['heal']);
    expect(w.finishedAborted).toEqual([false]);
    expect(r.durationMs).toBeGreaterThanOrEqual(20_000);
  });

  it('aborted: an abort gate that fails stops the load and ends the hold within a tick, rollbacks run, exit 3', async () => {
    const w = world({ sample: (t) => ({ lag: t >= 7000 ? 5000 : 5 }) });
    const r = await run(
      `${BASE}
gates:
  during: [{ metric: lag, max: 1000, abort: true }]
rollbacks: [heal, repair]
`,
      w,
    );
    expect(r.verdict).toBe('aborted');
    expect(VERDICT_EXIT[r.verdict]).toBe(3);
    expect(r.reason).toMatch(/during gate lag <= 1000 failed: 5000/);
    // The lag went up at 7 s, the tick after saw it: the 4 s hold ended there, the load too.
    expect(w.injected[0]!.heldMs).toBe(1000);
    expect(w.loadStoppedAt).toEqual([7000]);
    expect(w.finishedAborted).toEqual([true]);
    expect(w.rollbacks).toEqual(['heal', 'repair']);
    expect(r.timeline.map((e) => e.kind)).toContain('abort');
  });

  it('deviated: a gate relative to the steady state fails when the fault makes p99 worse than the factor', async () => {
    const w = world({ p99: (t) => (t >= 6 && t < 10 ? 40 : 4), dip: [6, 7] });
    const r = await run(
      `${BASE}
gates:
  after:
    - { metric: p99, phase: during, max: 3x steady }
    - { metric: p99, phase: after, max: 3x steady }
    - { metric: unavailability, max: 5s }
`,
      w,
    );
    expect(r.verdict).toBe('deviated');
    expect(VERDICT_EXIT[r.verdict]).toBe(1);
    const [during, after, unavailability] = r.gates;
    expect(during).toMatchObject({ metric: 'p99', value: 40, ok: false, expect: '<= 3x steady (= 12 ms)' });
    expect(after).toMatchObject({ metric: 'p99', value: 4, ok: true });
    expect(unavailability).toMatchObject({ value: 2000, ok: true });
    expect(r.phases.steady.p99).toBe(4);
    // The sink was back at rate from second 8: 2 s after the fault.
    expect(r.recoveryMs).toBe(2000);
  });

  it('deviated, no fault applied: a steady-state gate that fails before the method', async () => {
    const w = world({ sample: () => ({ health: 'degraded' }) });
    const r = await run(`${BASE}\nsteady_state: [{ metric: health, equals: ok }]\n`, w);
    expect(r.verdict).toBe('deviated');
    expect(r.reason).toMatch(/not steady before the method: health degraded/);
    expect(w.injected).toEqual([]);
    expect(w.loadStoppedAt).toEqual([6000]);
    expect(w.rollbacks).toEqual(['heal']);
  });

  it.each([
    { name: 'not seen to take effect', o: { seen: false } },
    { name: 'could not be applied', o: { injectError: 'no worker runs' } },
  ])('invalid when a fault was $name, whatever the gates say; rollbacks still run (exit 2)', async ({ o }) => {
    const w = world(o);
    const r = await run(`${BASE}\ngates:\n  after: [{ metric: lost, max: 0 }]\n`, w);
    expect(r.verdict).toBe('invalid');
    expect(VERDICT_EXIT[r.verdict]).toBe(2);
    expect(r.reason).toMatch(/pause-worker: not applied or not seen/);
    expect(w.rollbacks).toEqual(['heal']);
  });

  it('a load that never finishes (writes with no answer) does not hold the run: deviated, rollbacks run', async () => {
    const w = world({ stuckLoad: true });
    const r = await run(`${BASE}\ngates:\n  after: [{ metric: lost, max: 0 }]\n`, w);
    expect(r.verdict).toBe('deviated');
    expect(r.reason).toMatch(/the load did not finish/);
    expect(w.rollbacks).toEqual(['heal']);
    expect(w.loadStoppedAt[0]).toBeGreaterThan(50_000);
    expect(r.durationMs).toBeLessThan(20_000 + 2 * 30_000 + 2000);
  });

  it('a lost event fails a lost gate with its count', async () => {
    const w = world({ lost: 24 });
    const r = await run(`${BASE}\ngates:\n  after: [{ metric: lost, max: 0 }, { metric: duplicates, max: 0 }]\n`, w);
    expect(r.verdict).toBe('deviated');
    expect(r.reason).toBe('after lost 24 (<= 0)');
  });
});

describe('scenario files', () => {
  it.each([
    [
      'a fault before the warm-up ends',
      'method: [{ fault: kill-worker, at: 1s }]',
      /method\.0\.at: 1000 ms is outside the load/,
    ],
    ['a fault after the load', 'method: [{ fault: kill-worker, at: 30s }]', /outside the load/],
    ['an unknown fault', 'method: [{ fault: unplug, at: 5s }]', /method\.0\.fault/],
    [
      'a final metric as a during gate',
      'method: [{ fault: kill-worker, at: 5s }]\ngates: { during: [{ metric: lost, max: 0 }] }',
      /the lost gate can only be checked after the run/,
    ],
    [
      'a gate with max and equals',
      'method: [{ fault: kill-worker, at: 5s }]\nsteady_state: [{ metric: health, equals: ok, max: 1 }]',
      /exactly one of max or equals/,
    ],
    [
      'a bad threshold',
      'method: [{ fault: kill-worker, at: 5s }]\ngates: { after: [{ metric: p99, max: lots }] }',
      /expected a number, a duration/,
    ],
  ])('refuses %s (exit 2, naming the place)', (_name, tail, message) => {
    const yaml = `title: t\nload: { rate: 100, duration: 20s, warmup: 2s }\n${tail}\n`;
    expect(() => parseScenario(yaml, 'x.yaml')).toThrow(message);
    try {
      parseScenario(yaml, 'x.yaml');
    } catch (err) {
      expect(err).toMatchObject({ code: 'BAD_SCENARIO', exitCode: 2 });
    }
  });
});

describe('recovery', () => {
  const seconds = (rates: number[], lags: number[] = []) =>
    rates.map((throughput, t) => ({ t, throughput, lag: lags[t] ?? 0 }));

  it('is the time from the fault until the sink is back at 90% of the steady rate, with a steady backlog, 3 s in a row', () => {
    const s = seconds([100, 100, 100, 100, 20, 0, 50, 95, 100, 100, 100]);
    const steady = steadyLevel(s, 0, 4000)!;
    expect(steady).toEqual({ throughput: 100, lag: 0 });
    expect(recoveryMs(s, 4200, steady, 10)).toBe(2800);
  });

  it('waits for the backlog to drain back to its steady level, not only for the rate', () => {
    const s = seconds([100, 100, 100, 100, 0, 150, 150, 100, 100, 100], [0, 0, 0, 0, 50, 300, 100, 0, 0, 0]);
    expect(recoveryMs(s, 4000, { throughput: 100, lag: 0 }, 9)).toBe(3000);
  });

  it('is undefined when the pipeline never comes back before the load ends', () => {
    const s = seconds([100, 100, 100, 0, 0, 0, 0]);
    expect(recoveryMs(s, 3000, { throughput: 100, lag: 0 }, 6)).toBeUndefined();
  });
});

describe('the built-in scenarios', () => {
  it('every one parses, and `--scenario all` runs them in their order', () => {
    const names = builtinScenarios();
    expect(names).toEqual([
      'worker-crash',
      'worker-stall',
      'replica-crash',
      'client-pause',
      'manual-failover',
      'primary-pause',
      'primary-crash',
      'rolling-restart',
      'slow-primary',
      'client-blackhole',
      'lossy-network',
      'isolated-primary',
    ]);
    for (const name of names) {
      const s = loadScenario(builtinScenarioFile(name));
      expect(s.title).toBe(name);
      expect(s.gates.after.some((g) => g.metric === 'duplicates')).toBe(true);
    }
    expect(() => builtinScenarioFile('nope')).toThrow(/no such built-in scenario \(built in: worker-crash, /);
  });
});
