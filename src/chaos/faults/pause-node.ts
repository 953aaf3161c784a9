import type { FaultAction } from '../fault-action.js';
import { isGone, isStopped, signalProcess } from '../process-signals.js';
import { settled } from '../settled.js';
import { pidOf } from '../supervised.js';

/**
 * SIGSTOP a redis-server of the embedded deployment for a while, then SIGCONT: a node that hangs
 * (its clients time out; past the cluster's node timeout its replica takes over, and it comes back
 * as a replica). The supervisor sees a stopped process as alive and leaves it alone.
 */
export const pauseNode: FaultAction = {
  kind: 'pause-node',
  summary: 'SIGSTOP a redis-server of the embedded deployment for --for, then SIGCONT (a hang)',
  target: 'node',
  external: false,
  lasting: true,
  async apply(_env, f) {
    const pid = pidOf(f.target);
    signalProcess(pid, 'SIGSTOP');
    return `sent SIGSTOP to pid ${pid}`;
  },
  async check(_env, f) {
    const pid = pidOf(f.target);
    return isStopped(pid) ? `pid ${pid} is stopped (state T)` : undefined;
  },
  async revert(env, f) {
    const pid = pidOf(f.target);
    if (isGone(pid)) return `pid ${pid} is gone: nothing to resume; ${await settled(env)}`;
    signalProcess(pid, 'SIGCONT');
    return `sent SIGCONT to pid ${pid}${isStopped(pid) ? ' (still stopped!)' : ''}; ${await settled(env)}`;
  },
};
