import type { FaultAction } from '../fault-action.js';
import { processStopped, resume, sendSignal } from './process-steps.js';
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
  apply: sendSignal('SIGSTOP'),
  check: processStopped,
  async revert(env, f) {
    return `${resume(pidOf(f.target))}; ${await settled(env)}`;
  },
};
