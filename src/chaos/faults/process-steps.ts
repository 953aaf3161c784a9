import { isNodeAlive } from '../../embedded/redis-server.js';
import { RuntimeError, UsageError } from '../../errors.js';
import type { FaultAction } from '../fault-action.js';
import { isGone, isStopped, signalProcess } from '../process-signals.js';
import { pidOf } from '../supervised.js';

/** The `apply` of a fault that sends its target's process a signal. */
export function sendSignal(signal: 'SIGKILL' | 'SIGSTOP'): FaultAction['apply'] {
  return async (_env, f) => {
    const pid = pidOf(f.target);
    // A pid that runs nothing would make the fault look done (the process is "gone") without any effect.
    const running = f.target.type === 'node' ? isNodeAlive(pid, f.target.port) : !isGone(pid);
    const sent = running ? signalProcess(pid, signal) : 'gone';
    if (sent === 'denied')
      throw new UsageError(
        'NOT_PERMITTED',
        `pid ${pid} runs as another user: this user may not signal it`,
        'run chaos as the user that runs the deployment, or as root (see `streamctl chaos doctor`)',
      );
    if (sent === 'gone')
      throw new RuntimeError(
        'NOT_RUNNING',
        `pid ${pid} (${f.target.type === 'node' ? f.target.address : f.target.name}) is not running: nothing to ${signal === 'SIGKILL' ? 'kill' : 'pause'}`,
        'see `streamctl health`; aim again once the process runs',
      );
    return `sent ${signal} to pid ${pid}`;
  };
}

/** The `check` of a kill: the process is gone. */
export const processGone: FaultAction['check'] = async (_env, f) => {
  const pid = pidOf(f.target);
  return isGone(pid) ? `pid ${pid} is gone` : undefined;
};

/** The `check` of a pause: the process is stopped. */
export const processStopped: FaultAction['check'] = async (_env, f) => {
  const pid = pidOf(f.target);
  return isStopped(pid) ? `pid ${pid} is stopped (state T)` : undefined;
};

/** Resumes a paused process (SIGCONT); says so, or that it is gone. */
export function resume(pid: number): string {
  if (isGone(pid)) return `pid ${pid} is gone: nothing to resume`;
  signalProcess(pid, 'SIGCONT');
  return `sent SIGCONT to pid ${pid}${isStopped(pid) ? ' (still stopped!)' : ''}`;
}
