/**
 * `bench --compare`: this run against an earlier one, with a verdict that accounts for noise.
 *
 * The rule (also in `--compare --help`):
 * - Noise threshold T = max(minChange, calibration disagreement), where minChange is 10% by default
 *   (`--min-change`) and the calibration disagreement is max(r, 1/r) - 1 for r = this run's
 *   calibration XADD rate / the earlier one's (0 when either run was not calibrated). A shared machine that measured its raw
 *   Redis rate 20% apart between the runs cannot tell a 15% change from noise.
 * - Throughput and the `--max` rate are divided by each run's calibration XADD rate when both runs
 *   have one, so a busier machine does not read as a slower pipeline.
 * - Tail latency (p99) gets 2T: it rests on 1% of the events of a short run.
 * - Below an absolute floor a change is noise whatever its ratio: 0.5 ms of latency, 5 points of
 *   CPU, 5 MB of RSS.
 * - A metric is `same within noise` when its relative change is within its threshold or its absolute
 *   change within its floor; otherwise `better` or `worse` by its direction.
 * - Overall: `worse` when any headline metric is worse (throughput, max rate, end-to-end p50 and p99,
 *   total CPU), `better` when some headline metric is better and none is worse, else `same within
 *   noise`. Per-hop and per-process figures are shown with their own verdicts but do not decide.
 */
import { renderTable } from '../table.js';
import type { BenchBaseline } from './baseline.js';

export type Verdict = 'better' | 'worse' | 'same within noise';

export interface MetricComparison {
  /** `throughput`, `max rate`, `p50 <hop>`, `p99 <hop>`, `cpu total`, `cpu <role>`, `rss <role>`. */
  name: string;
  unit: 'events/s' | 'ms' | '%' | 'MB';
  betterWhen: 'higher' | 'lower';
  baseline: number;
  current: number;
  /** Relative change the verdict uses (normalised by calibration where stated); null when the baseline is 0. */
  change: number | null;
  normalised: boolean;
  /** Relative change within which the metric is the same. */
  threshold: number;
  /** Absolute change (in `unit`) within which the metric is the same. */
  floor: number;
  /** Whether the metric decides the overall verdict. */
  headline: boolean;
  verdict: Verdict;
}

export interface Comparison {
  baseline: { label: string; pipeline: string[]; mode: string; rate: number; calibrationXaddPerSecond: number | null };
  noise: { minChange: number; calibrationRatio: number | null; threshold: number };
  metrics: MetricComparison[];
  verdict: Verdict;
  notes: string[];
}

export interface CompareOptions {
  /** Changes below this fraction are never significant. */
  minChange?: number;
  /** Shown as the baseline's name (the file). */
  label?: string;
}

const FLOORS = { latencyMs: 0.5, cpuPercent: 5, rssMb: 5 };

/** `redis 127.0.0.1:7000 (master)` -> `redis master`: ports differ between runs, roles do not. */
function processRole(name: string): string {
  const redis = /^redis \S+ \((.+)\)$/.exec(name);
  return redis ? `redis ${redis[1]}` : name;
}

/** Sums CPU and RSS per role, skipping unknown (-1) figures. */
function byRole(processes: BenchBaseline['processes']): Map<string, { cpu: number; rss: number; count: number }> {
  const roles = new Map<string, { cpu: number; rss: number; count: number }>();
  for (const p of processes) {
    const role = processRole(p.name);
    const r = roles.get(role) ?? { cpu: 0, rss: 0, count: 0 };
    r.cpu += Math.max(0, p.cpuPercent);
    r.rss += Math.max(0, p.rssMb);
    r.count++;
    roles.set(role, r);
  }
  return roles;
}

/**
 * The verdict of one metric (pure): same within noise when the relative change is within
 * `threshold` or the absolute change within `floor`, else better or worse by `betterWhen`.
 */
function judgeMetric(m: {
  betterWhen: 'higher' | 'lower';
  baseline: number;
  current: number;
  change: number | null;
  threshold: number;
  floor: number;
}): Verdict {
  if (Math.abs(m.current - m.baseline) <= m.floor) return 'same within noise';
  if (m.change !== null && Math.abs(m.change) <= m.threshold) return 'same within noise';
  const up = m.change !== null ? m.change > 0 : m.current > m.baseline;
  return up === (m.betterWhen === 'higher') ? 'better' : 'worse';
}

/** Combines verdicts: any worse -> worse; else any better -> better; else same within noise. */
function overallVerdict(verdicts: Verdict[]): Verdict {
  if (verdicts.includes('worse')) return 'worse';
  if (verdicts.includes('better')) return 'better';
  return 'same within noise';
}

/**
 * Compares a bench result with an earlier one (pure; the rule is in this module's comment).
 * @param baseline the earlier run (`--compare FILE`)
 * @param current this run
 */
export function compareResults(baseline: BenchBaseline, current: BenchBaseline, o: CompareOptions = {}): Comparison {
  const minChange = o.minChange ?? 0.1;
  const notes: string[] = [];
  const calBase = baseline.calibration?.xaddPerSecond;
  const calCur = current.calibration?.xaddPerSecond;
  const calibrationRatio = calBase && calCur ? calCur / calBase : null;
  const threshold = Math.max(
    minChange,
    calibrationRatio === null ? 0 : Math.max(calibrationRatio, 1 / calibrationRatio) - 1,
  );
  if (calibrationRatio === null)
    notes.push('throughput is not normalised: one of the runs has no calibration (--no-calibrate)');
  if (baseline.load.rate !== current.load.rate)
    notes.push(
      `the runs used different --rate (${baseline.load.rate} then ${current.load.rate}): CPU and throughput are not like for like`,
    );
  if (baseline.mode !== current.mode)
    notes.push(`the runs used different deployments (${baseline.mode} then ${current.mode})`);
  if (baseline.pipeline.join(',') !== current.pipeline.join(','))
    notes.push(
      `the pipelines differ (${baseline.pipeline.join(' -> ')} then ${current.pipeline.join(' -> ')}); only hops of the same name are compared`,
    );

  const metrics: MetricComparison[] = [];
  const add = (
    name: string,
    unit: MetricComparison['unit'],
    betterWhen: MetricComparison['betterWhen'],
    b: number,
    c: number,
    opts: { normalise?: boolean; tail?: boolean; floor?: number; headline?: boolean } = {},
  ) => {
    const normalised = Boolean(opts.normalise && calibrationRatio !== null);
    // Normalised: events/s per calibration XADD/s, i.e. the raw ratio divided by the calibration ratio.
    const change = b > 0 ? c / b / (normalised ? calibrationRatio! : 1) - 1 : null;
    const m = {
      name,
      unit,
      betterWhen,
      baseline: b,
      current: c,
      change: change === null ? null : Math.round(change * 10_000) / 10_000,
      normalised,
      threshold: opts.tail ? 2 * threshold : threshold,
      floor: opts.floor ?? 0,
      headline: opts.headline ?? false,
    };
    metrics.push({ ...m, verdict: judgeMetric({ ...m, change }) });
  };

  add('throughput', 'events/s', 'higher', baseline.throughput.eventsPerSecond, current.throughput.eventsPerSecond, {
    normalise: true,
    headline: true,
  });
  const maxB = baseline.max?.rate;
  const maxC = current.max?.rate;
  if (typeof maxB === 'number' && typeof maxC === 'number')
    add('max rate', 'events/s', 'higher', maxB, maxC, { normalise: true, headline: true });
  else if (typeof maxB === 'number' || typeof maxC === 'number')
    notes.push('only one run has a --max rate: not compared');

  const lastB = baseline.latency[baseline.latency.length - 1]?.stream;
  const lastC = current.latency[current.latency.length - 1]?.stream;
  for (const hop of current.latency) {
    const before = baseline.latency.find((l) => l.stream === hop.stream);
    if (!before) continue;
    const endToEnd = hop.stream === lastB && hop.stream === lastC;
    add(`p50 ${hop.stream}`, 'ms', 'lower', before.p50, hop.p50, { floor: FLOORS.latencyMs, headline: endToEnd });
    add(`p99 ${hop.stream}`, 'ms', 'lower', before.p99, hop.p99, {
      tail: true,
      floor: FLOORS.latencyMs,
      headline: endToEnd,
    });
  }

  const rolesB = byRole(baseline.processes);
  const rolesC = byRole(current.processes);
  const total = (roles: Map<string, { cpu: number }>) => [...roles.values()].reduce((a, r) => a + r.cpu, 0);
  add('cpu total', '%', 'lower', total(rolesB), total(rolesC), { floor: FLOORS.cpuPercent, headline: true });
  for (const [role, c] of rolesC) {
    const b = rolesB.get(role);
    if (!b) continue;
    if (b.count !== c.count) notes.push(`${role}: ${b.count} process(es) then ${c.count}; figures are sums per role`);
    add(`cpu ${role}`, '%', 'lower', b.cpu, c.cpu, { floor: FLOORS.cpuPercent });
    add(`rss ${role}`, 'MB', 'lower', b.rss, c.rss, { floor: FLOORS.rssMb });
  }

  return {
    baseline: {
      label: o.label ?? 'baseline',
      pipeline: baseline.pipeline,
      mode: baseline.mode,
      rate: baseline.load.rate,
      calibrationXaddPerSecond: calBase ?? null,
    },
    noise: {
      minChange,
      calibrationRatio: calibrationRatio === null ? null : Math.round(calibrationRatio * 1000) / 1000,
      threshold: Math.round(threshold * 1000) / 1000,
    },
    metrics,
    verdict: overallVerdict(metrics.filter((m) => m.headline).map((m) => m.verdict)),
    notes,
  };
}

const pct = (x: number) => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)}%`;

/** The comparison as text: a table of metrics, the overall verdict and the noise threshold, notes. */
export function renderComparison(c: Comparison): string {
  const num = (v: number) => v.toLocaleString('en', { maximumFractionDigits: 3 });
  const rows = c.metrics.map((m) => [
    `${m.headline ? '* ' : '  '}${m.name}`,
    `${num(m.baseline)} ${m.unit}`,
    `${num(m.current)} ${m.unit}`,
    m.change === null ? 'n/a' : `${pct(m.change)}${m.normalised ? ' (normalised)' : ''}`,
    m.verdict,
  ]);
  const cal =
    c.noise.calibrationRatio === null ? 'no calibration to compare' : `calibration ratio ${c.noise.calibrationRatio}`;
  return [
    `COMPARED WITH ${c.baseline.label} (* = decides the overall verdict)`,
    renderTable(['METRIC', 'BEFORE', 'NOW', 'CHANGE', 'VERDICT'], rows),
    `overall: ${c.verdict} (noise threshold ${(c.noise.threshold * 100).toFixed(0)}%: at least ${(c.noise.minChange * 100).toFixed(0)}%, ${cal}; p99 twice that)`,
    ...c.notes.map((n) => `note: ${n}`),
  ].join('\n');
}
