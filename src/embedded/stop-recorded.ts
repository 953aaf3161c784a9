import { waitFor } from '../wait.js';
import { readControlEndpoint, sendControl } from './control-client.js';
import { CONTROL_VERSION } from './control-protocol.js';
import { liveNodes, readDeployment, stopDeployment } from './deployment.js';
import { isPidAlive } from '../pid.js';
import { stopRecordedPrometheus } from './prometheus.js';
import { stopWorkerProcesses, WORKER_STOP_MS } from './worker-processes.js';

/** How long a supervisor gets to stop its processes and exit when `down` asks it to. */
const SUPERVISOR_EXIT_MS = 30_000;

async function supervisorGone(pid: number): Promise<void> {
  await waitFor(async () => (isPidAlive(pid) ? undefined : true), {
    timeoutMs: SUPERVISOR_EXIT_MS,
    onTimeout: () => new Error('supervisor did not exit'),
  }).catch(() => undefined);
}

/**
 * Stops the deployment recorded in `home` from another process (`down`): its supervisor is asked on
 * its control channel to stop everything (workers drain first, then Redis) and exits. Without a
 * supervisor that answers, the processes in the record are stopped here in the same order.
 * @returns the ports of the redis-server processes that were running, or undefined when there is no record.
 */
export async function stopRecorded(home: string, o: { keepData: boolean }): Promise<number[] | undefined> {
  const d = readDeployment(home);
  if (!d) return undefined;
  const endpoint = readControlEndpoint(home);
  if (endpoint) {
    try {
      const { stopped } = await sendControl(home, { v: CONTROL_VERSION, kind: 'stop', keepData: o.keepData });
      await supervisorGone(endpoint.pid);
      return stopped;
    } catch {
      // it did not answer: stop what the record lists
    }
  }
  if (d.supervisorPid && d.supervisorPid !== process.pid && isPidAlive(d.supervisorPid)) {
    process.kill(d.supervisorPid, 'SIGTERM');
    await supervisorGone(d.supervisorPid);
  }
  if (d.prometheus) await stopRecordedPrometheus(d.prometheus.pid);
  const workers = (d.workers ?? []).filter((w) => w.pid > 0);
  if (workers.length) await stopWorkerProcesses(workers, WORKER_STOP_MS);
  const before = liveNodes(d).map((n) => n.port);
  // A supervisor may have removed or rewritten the record meanwhile.
  const current = readDeployment(home);
  if (current) await stopDeployment(home, current, o);
  return before;
}
