/** One second of a run, from the start of the load: what reached the sink, and the backlog. */
export interface Second {
  /** Seconds from the start of the load. */
  t: number;
  /** Events committed at the sink during that second. */
  throughput: number;
  /** Entries waiting or pending over every stage, sampled in that second (undefined: not sampled). */
  lag?: number | undefined;
}

/** The steady state a recovery returns to: the sink's rate and the backlog before the first fault. */
export interface SteadyLevel {
  throughput: number;
  lag: number;
}

/** Share of the steady rate the sink must be back to. */
export const RECOVERED_RATE = 0.9;
/** Seconds in a row the rate and the backlog must hold to count as recovered. */
export const RECOVERED_FOR = 3;

/** The backlog a recovered pipeline may have: its steady level, with a tolerance (twice it, and a few entries). */
export function lagTolerance(steadyLag: number): number {
  return 2 * steadyLag + 10;
}

/**
 * Time from `faultMs` (from the start of the load) until the sink's throughput is back to 90% of
 * the steady rate and the backlog within the tolerance of its steady level, for `RECOVERED_FOR`
 * seconds in a row (fewer when the load ends sooner); undefined when that never happens before
 * `endS` (the last whole second of the load).
 */
export function recoveryMs(seconds: Second[], faultMs: number, steady: SteadyLevel, endS: number): number | undefined {
  const byT = new Map(seconds.map((s) => [s.t, s]));
  const ok = (t: number) => {
    const s = byT.get(t);
    if (!s) return steady.throughput === 0;
    return (
      s.throughput >= RECOVERED_RATE * steady.throughput && (s.lag === undefined || s.lag <= lagTolerance(steady.lag))
    );
  };
  for (let t = Math.floor(faultMs / 1000); t <= endS; t++) {
    let run = 0;
    while (t + run <= endS && run < RECOVERED_FOR && ok(t + run)) run++;
    if (run === RECOVERED_FOR || (run > 0 && t + run > endS)) return Math.max(0, t * 1000 - faultMs);
  }
  return undefined;
}

/** The steady level from the seconds in [fromMs, toMs): the mean sink rate and the largest backlog. */
export function steadyLevel(seconds: Second[], fromMs: number, toMs: number): SteadyLevel | undefined {
  const inside = seconds.filter((s) => s.t * 1000 >= fromMs && (s.t + 1) * 1000 <= toMs);
  if (inside.length === 0) return undefined;
  return {
    throughput: inside.reduce((a, s) => a + s.throughput, 0) / inside.length,
    lag: Math.max(0, ...inside.map((s) => s.lag ?? 0)),
  };
}
