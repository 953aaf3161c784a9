import { formatDuration } from '../../duration.js';
import type { FaultAction } from '../fault-action.js';
import { processGone, sendSignal } from './process-steps.js';
import { settled } from '../settled.js';
import { ensureRunning } from '../supervised.js';

/**
 * SIGKILL a redis-server of the embedded deployment: a crash. The supervisor answers it with its
 * restart policy (a primary comes back once its replica took over, as a replica); the revert waits
 * for that, or starts the node itself when the supervisor gave up (`--restart never`).
 */
export const killNode: FaultAction = {
  kind: 'kill-node',
  summary: 'SIGKILL a redis-server of the embedded deployment (a crash)',
  target: 'node',
  external: false,
  lasting: false,
  apply: sendSignal('SIGKILL'),
  check: processGone,
  async revert(env, f) {
    const t0 = performance.now();
    const back = await ensureRunning(env, f.target, f.target.pid ?? undefined);
    const state = await settled(env);
    return `${f.target.type === 'node' ? f.target.address : ''} back as pid ${back.pid} (${back.started ? 'started by the heal' : 'restarted by the supervisor'}) after ${formatDuration(performance.now() - t0)}; ${state}`;
  },
};
