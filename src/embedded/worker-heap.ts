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

/**
 * No allocation-site pretenuring. V8 allocates straight into the old generation the objects of an
 * allocation site whose objects mostly survived young collections. A worker's batch objects (reply
 * arrays, decoded events) live a few milliseconds, but some sites still cross that bar, and an
 * object made in the old generation that dies keeps every young object it points to (the Buffers
 * of a batch) alive through the young collections until the next full one: they get promoted, and
 * the old generation fills with garbage. Measured on two workers at 10,000 events/s on the
 * project's 2-core machine (16 s): the passthrough pipeline promoted 19 MB per worker instead of
 * 63 (young-collection pauses 83 ms instead of 200, full collections 2 instead of 7); the default
 * pipeline 73 MB instead of 127 (pauses 240-270 ms instead of 380-390, full collections 6 instead of
 * 13-14), worker CPU 30-33% instead of 34-35%, end-to-end p99 4.4-5.3 ms instead of 4.9-5.9 in 3
 * alternating pairs.
 */
const NO_PRETENURING = '--no-allocation-site-pretenuring';

const FLAGS = ['--max-semi-space-size=8', GROWTH, NO_PRETENURING];

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
  return flag
    .split('=')[0]!
    .replace(/_/g, '-')
    .replace(/^--no-/, '--');
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
 * Applies what can be set after start (the growth factor, read at every collection; pretenuring,
 * decided at every young collection) to this process, unless the user set it: a `streamctl worker`
 * started by hand gets most of the saving too.
 */
export function tuneWorkerHeap(nodeOptions = process.env.NODE_OPTIONS, execArgv = process.execArgv): void {
  for (const flag of [GROWTH, NO_PRETENURING]) if (!setByUser(flag, nodeOptions, execArgv)) setFlagsFromString(flag);
}
