import { formatDuration } from '../../duration.js';
import type { FaultAction } from '../fault-action.js';
import { processGone, sendSignal } from './process-steps.js';
import { ensureRunning } from '../supervised.js';

/**
 * SIGKILL a stage worker of the embedded deployment: a crash mid-batch. Its leases expire and the
 * other workers take its partitions over; the supervisor starts it again with its restart policy,
 * and the revert waits for that (or starts it when the supervisor gave up).
 */
export const killWorker: FaultAction = {
  kind: 'kill-worker',
  summary: 'SIGKILL a stage worker of the embedded deployment (a crash)',
  target: 'worker',
  external: false,
  lasting: false,
  apply: sendSignal('SIGKILL'),
  check: processGone,
  async revert(env, f) {
    const t0 = performance.now();
    const back = await ensureRunning(env, f.target, f.target.pid ?? undefined);
    return `back as pid ${back.pid} (${back.started ? 'started by the heal' : 'restarted by the supervisor'}) after ${formatDuration(performance.now() - t0)}`;
  },
};
