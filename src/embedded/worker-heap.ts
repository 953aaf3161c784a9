import { availableParallelism } from 'node:os';
import { setFlagsFromString } from 'node:v8';

/**
 * V8 heap settings of a worker process. A worker's live data is small (stage state, batches in
 * flight), but it allocates fast, and V8's defaults let the heap grow to about three times the live
 * data before a full collection. docs/PERFORMANCE.md (Memory) has the figures behind these flags.
 *
 * - `--max-semi-space-size=8`: half the young generation, at no cost in latency. Fixed at heap
 *   setup, so it is passed to the workers that `up` starts.
 * - `--heap-growing-percent=100`: a full collection once the old generation is twice what survived
 *   the last one: a smaller heap, for more full collections.
 */
const GROWTH = '--heap-growing-percent=100';

/**
 * No allocation-site pretenuring. V8 allocates straight into the old generation the objects of an
 * allocation site whose objects mostly survived young collections. A worker's batch objects (reply
 * arrays, decoded events) live a few milliseconds, but some sites still cross that bar, and an
 * object made in the old generation that dies keeps every young object it points to (the Buffers
 * of a batch) alive through the young collections until the next full one: they get promoted, and
 * the old generation fills with garbage. Without pretenuring far less is promoted and there are
 * fewer full collections (docs/PERFORMANCE.md, Levers measured and kept).
 */
const NO_PRETENURING = '--no-allocation-site-pretenuring';

const FLAGS = ['--max-semi-space-size=8', GROWTH, NO_PRETENURING];

/**
 * On a machine of at most 2 cores, collections in the worker's own thread only. V8's parallel
 * young collections and concurrent marking wake helper threads that compete for the same two cores
 * with the other workers, Redis and the producer: the tail latency is lower without them, at about
 * one step of the max-rate search (docs/PERFORMANCE.md).
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
