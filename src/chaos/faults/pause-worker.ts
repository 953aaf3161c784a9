import { existsSync, readFileSync, statSync } from 'node:fs';
import { workersLog } from '../../embedded/deployment.js';
import { waitFor } from '../../wait.js';
import type { FaultAction } from '../fault-action.js';
import { isGone } from '../process-signals.js';
import { processStopped, resume, sendSignal } from './process-steps.js';
import { pidOf } from '../supervised.js';

/** How long a resumed worker gets to report the leases it lost. */
const FENCE_WAIT_MS = 5000;

/** The lines `pid` wrote to the workers' log after byte `from` about a lease it lost; undefined while none. */
function leaseLines(log: string, from: number, pid: number): string[] | undefined {
  if (!existsSync(log)) return undefined;
  const lines = readFileSync(log)
    .subarray(from)
    .toString('utf8')
    .split('\n')
    .filter((l) => l.includes(` pid ${pid}: `) && /lease (expired|lost)/.test(l));
  return lines.length ? lines.map((l) => l.slice(l.indexOf('partition'))) : undefined;
}

/**
 * SIGSTOP a stage worker for `--for`, then SIGCONT: a stall (a long GC pause, a frozen VM). Past
 * its lease, the other workers take its partitions over; when it wakes, its late commit is refused
 * by the lease check (it is fenced) and it gives those partitions up.
 */
export const pauseWorker: FaultAction = {
  kind: 'pause-worker',
  summary: 'SIGSTOP a stage worker for --for, then SIGCONT (a stall; past its lease it is fenced)',
  target: 'worker',
  external: false,
  lasting: true,
  apply: sendSignal('SIGSTOP'),
  check: processStopped,
  async revert(env, f) {
    const pid = pidOf(f.target);
    if (isGone(pid)) return `pid ${pid} is gone: nothing to resume`;
    const log = workersLog(env.home);
    const from = existsSync(log) ? statSync(log).size : 0;
    const resumed = resume(pid);
    // What the worker says once awake: partitions whose lease ran out while it slept are given up.
    const fenced = await waitFor(async () => leaseLines(log, from, pid), {
      timeoutMs: FENCE_WAIT_MS,
      intervalMs: 100,
      onTimeout: () => new Error('none'),
    }).catch(() => []);
    return fenced.length
      ? `${resumed}; fenced: it gave up ${fenced.length} partition(s) whose lease ran out (${fenced[0]})`
      : `${resumed}; it lost no lease (the pause was shorter than its lease, or it owned nothing)`;
  },
};
