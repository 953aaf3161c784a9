import { availableParallelism } from 'node:os';
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

/**
 * On a machine of at most 2 cores, collections in the worker's own thread only. V8's parallel
 * young collections and concurrent marking wake helper threads that compete for the same two cores
 * with the other workers, Redis and the producer. With 2 workers of the default pipeline at 10,000
 * events/s on the project's 2-core machine, end-to-end p99 was 12-18 ms against 17-23 ms in 6
 * alternating pairs of runs, p50 the same; the highest sustainable rate was about 5% lower (126,563
 * and 113,906 against 132,891 and 120,234 events/s: one step of the search).
 */
const SMALL_MACHINE_FLAGS = ['--single-threaded-gc'];
const SMALL_MACHINE_CORES = 2;

/** The flag's name, `--max-semi-space-size` of `--max-semi-space-size=8`; `--no-x` is named `--x`. */
function flagName(flag: string): string {
  return flag.split('=')[0]!.replace(/_/g, '-').replace(/^--no-/, '--');
}

/** Whether the user set this flag in NODE_OPTIONS (or on node's command line): theirs wins. */
function setByUser(flag: string, nodeOptions: string | undefined, execArgv: readonly string[]): boolean {
  const name = flagName(flag);
  return [...(nodeOptions ?? '').split(/\s+/), ...execArgv].some((a) => a !== '' && flagName(a) === name);
}

/**
 * The flags for a worker process that `up` or `bench` starts, minus those the user set in
 * NODE_OPTIONS: `NODE_OPTIONS=--heap-growing-percent=0` gives back V8's own growth (lower p99,
 * larger RSS), `--no-single-threaded-gc` the parallel collections.
 * @param cores the machine's cores (`os.availableParallelism()`).
 */
export function workerNodeFlags(nodeOptions: string | undefined, cores = availableParallelism()): string[] {
  const flags = cores <= SMALL_MACHINE_CORES ? [...FLAGS, ...SMALL_MACHINE_FLAGS] : FLAGS;
  return flags.filter((f) => !setByUser(f, nodeOptions, []));
}

/**
 * Applies what can be set after start (the growth factor, read at every collection) to this
 * process, unless the user set it: a `streamctl worker` started by hand gets most of the saving too.
 */
export function tuneWorkerHeap(nodeOptions = process.env.NODE_OPTIONS, execArgv = process.execArgv): void {
  if (!setByUser(GROWTH, nodeOptions, execArgv)) setFlagsFromString(GROWTH);
}
