import type { Gate, GateMetric } from './scenario.js';

export type Phase = 'steady' | 'during' | 'after';

/** One gate checked once: what it expected, what was measured, and whether it held. */
export interface GateResult {
  phase: Phase;
  metric: GateMetric;
  /** The gate in words: `<= 250`, `<= 3x steady (= 36.2)`, `= ok`. */
  expect: string;
  value: number | string | null;
  ok: boolean;
  abort: boolean;
  /** When it was checked, ms from the start of the load. */
  atMs: number;
}

/** What a metric is measured in, for the words of a result. */
const TIMES: readonly GateMetric[] = ['unavailability', 'recovery', 'p99', 'stall'];

function show(metric: GateMetric, v: number): string {
  return TIMES.includes(metric) ? `${Math.round(v * 10) / 10} ms` : String(Math.round(v * 100) / 100);
}

/**
 * Checks one gate. `value` undefined means not measured (the gate fails: a gate that cannot see
 * its metric cannot pass); `steady` is the steady state's value of the metric, for relative gates.
 */
export function checkGate(
  g: Gate,
  phase: Phase,
  value: number | string | undefined,
  steady: number | undefined,
  atMs: number,
): GateResult {
  const base = { phase, metric: g.metric, value: value ?? null, abort: g.abort, atMs };
  if (g.equals !== undefined) return { ...base, expect: `= ${g.equals}`, ok: value === g.equals };
  const t = g.max!;
  let limit: number | undefined;
  let expect: string;
  if (t.factor !== undefined) {
    limit = steady === undefined ? undefined : t.factor * steady;
    expect = `<= ${t.factor}x steady${limit === undefined ? ' (no steady value)' : ` (= ${show(g.metric, limit)})`}`;
  } else {
    limit = t.value;
    expect = `<= ${show(g.metric, limit)}`;
  }
  const ok = typeof value === 'number' && limit !== undefined && value <= limit;
  return { ...base, expect, ok };
}

/** A gate's result in one line: `during lag 120 <= 5000: ok`. */
export function describeGate(r: GateResult): string {
  const value = typeof r.value === 'number' ? Math.round(r.value * 10) / 10 : (r.value ?? 'not measured');
  return `${r.phase} ${r.metric} ${value} ${r.expect}: ${r.ok ? 'ok' : 'FAILED'}`;
}
