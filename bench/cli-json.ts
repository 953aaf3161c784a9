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

/**
 * `streamctl bench --max` on the deployment at `redis` (a URL list, or `{ home }` for the embedded
 * deployment there, reached as its clients reach it): the highest sustainable rate of the default
 * pipeline, searched from 20,000 events/s for at most a minute, without the calibration.
 */
export function maxRateSearch<T>(redis: string | { home: string }, extra: string[] = []): T {
  return cliJson<T>([
    'bench',
    ...(typeof redis === 'string' ? ['--redis', redis] : ['--home', redis.home]),
    ...extra,
    '--max',
    '--rate',
    '20000',
    '--max-time',
    '60s',
    '--no-calibrate',
    '--json',
    '-',
  ]);
}
