import { execFileSync } from 'node:child_process';
import { cliEntry } from '../src/embedded/cli-entry.js';

/** Runs `streamctl args...` (which ask for JSON) and parses its JSON, also on a non-zero exit, which bench uses for "not drained". */
export function cliJson<T>(args: string[]): T {
  try {
    return JSON.parse(
      execFileSync(process.execPath, [cliEntry(), ...args], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'inherit'],
        maxBuffer: 256 << 20,
      }),
    ) as T;
  } catch (err) {
    const out = (err as { stdout?: string }).stdout;
    if (out) return JSON.parse(out) as T;
    throw err;
  }
}

/** A deployment for `streamctl bench`: its URL list, or `{ home }` for the embedded one there, reached as its clients reach it. */
type BenchTarget = string | { home: string };

function targetArgs(t: BenchTarget): string[] {
  return typeof t === 'string' ? ['--redis', t] : ['--home', t.home];
}

/**
 * `streamctl bench` at 10,000 events/s (or `rate`) on the deployment at `target`: 5 s of warm-up,
 * then 10 s measured (the latency goal's run).
 */
export function rateRun<T>(target: BenchTarget, extra: string[] = [], o: { rate?: number } = {}): T {
  return cliJson<T>([
    'bench',
    ...targetArgs(target),
    ...extra,
    '--rate',
    String(o.rate ?? 10_000),
    '--warmup',
    '5s',
    '--duration',
    '10s',
    '--json',
    '-',
  ]);
}

/**
 * `streamctl bench --max` on the deployment at `target`: the highest sustainable rate of the default
 * pipeline, searched from `from` events/s (20,000) for at most `budget` (a minute), without the
 * calibration. A longer budget bisects further: each step halves the interval.
 */
export function maxRateSearch<T>(
  target: BenchTarget,
  extra: string[] = [],
  o: { from?: number; budget?: string } = {},
): T {
  return cliJson<T>([
    'bench',
    ...targetArgs(target),
    ...extra,
    '--max',
    '--rate',
    String(o.from ?? 20_000),
    '--max-time',
    o.budget ?? '60s',
    '--no-calibrate',
    '--json',
    '-',
  ]);
}
