import type { FaultAction } from '../fault-action.js';
import { settled } from '../settled.js';
import { currentPid, ensureRunning, pidOf, restartProcess } from '../supervised.js';

/**
 * Restart a redis-server through the supervisor's control channel: an operator's restart (a
 * cluster primary hands its slots to its replica first, so no acknowledged write is lost).
 */
export const restartNode: FaultAction = {
  kind: 'restart-node',
  summary: 'restart a redis-server through the supervisor (a primary hands its slots over first)',
  target: 'node',
  external: false,
  lasting: false,
  async apply(env, f) {
    const before = pidOf(f.target);
    await restartProcess(env, f.target);
    return `asked the supervisor to restart pid ${before}`;
  },
  async check(env, f) {
    const before = pidOf(f.target);
    const now = await currentPid(env, f.target);
    return now !== null && now !== before ? `pid ${before} replaced by pid ${now}` : undefined;
  },
  async revert(env, f) {
    const back = await ensureRunning(env, f.target);
    return `running as pid ${back.pid}; ${await settled(env)}`;
  },
};
