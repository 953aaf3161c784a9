import { setFlagsFromString } from 'node:v8';

/**
 * V8 heap settings of a worker process. A worker's live data is small (20-30 MB at 50,000
 * events/s: stage state, batches in flight), but it allocates fast, and V8's defaults let the heap
 * grow to about three times the live data before a full collection (a 16 MB semi-space, growth
 * factor up to 4), which put workers at 175-200 MB at the max rate. Measured on two workers of the
 * default pipeline on the project's 2-core machine:
 *
 * - `--max-semi-space-size=8`: half the young generation, 16 MB less, at no cost in latency
 *   (RSS 150-155 MB at 10,000 events/s, 160-170 at the max rate). Fixed at heap setup, so it is
 *   passed to the workers that `up` starts.
 * - `--heap-growing-percent=100`: a full collection once the old generation is twice what survived
 *   the last one. With both, RSS is 115 MB at 10,000 events/s and 120-130 MB at the max rate, whose
 *   figure stayed within the run-to-run noise. The price is more full collections: p99 at 10,000
 *   events/s 22-25 ms against 18 with the semi-space alone (50 instead of 100: 105 MB, p99 26-29).
 */
const GROWTH = '--heap-growing-percent=100';

const FLAGS = ['--max-semi-space-size=8', GROWTH];

/** The flag's name, `--max-semi-space-size` of `--max-semi-space-size=8`. */
function flagName(flag: string): string {
  return flag.split('=')[0]!.replace(/_/g, '-');
}

/** Whether the user set this flag in NODE_OPTIONS (or on node's command line): theirs wins. */
function setByUser(flag: string, nodeOptions: string | undefined, execArgv: readonly string[]): boolean {
  const name = flagName(flag);
  return [...(nodeOptions ?? '').split(/\s+/), ...execArgv].some((a) => a !== '' && flagName(a) === name);
}

/**
 * The flags for a worker process that `up` or `bench` starts, minus those the user set in
 * NODE_OPTIONS: `NODE_OPTIONS=--heap-growing-percent=0` gives back V8's own growth (lower p99,
 * larger RSS).
 */
export function workerNodeFlags(nodeOptions: string | undefined): string[] {
  return FLAGS.filter((f) => !setByUser(f, nodeOptions, []));
}

/**
 * Applies what can be set after start (the growth factor, read at every collection) to this
 * process, unless the user set it: a `streamctl worker` started by hand gets most of the saving too.
 */
export function tuneWorkerHeap(nodeOptions = process.env.NODE_OPTIONS, execArgv = process.execArgv): void {
  if (!setByUser(GROWTH, nodeOptions, execArgv)) setFlagsFromString(GROWTH);
}
