import type { DeploymentStatus, SupervisedProcess } from '../observe/snapshot.js';
import { readControlEndpoint } from './control-client.js';
import type { Deployment } from './deployment.js';
import { readEvents } from './events-log.js';
import { isPidAlive } from '../pid.js';
import { isNodeAlive } from './redis-server.js';

/**
 * The deployment's supervised processes as its record and event log tell, with liveness checked
 * now: what `health` shows, whether the supervisor runs or died (then nothing restarts, and this
 * says so).
 */
export function recordedStatus(home: string, d: Deployment): DeploymentStatus {
  const supervisorAlive = d.supervisorPid !== undefined && isPidAlive(d.supervisorPid);
  const control = supervisorAlive ? readControlEndpoint(home)?.url : undefined;
  const state = (s: SupervisedProcess['state'] | undefined, alive: boolean): SupervisedProcess['state'] =>
    s ?? (alive ? 'running' : 'stopped');
  const nodes: SupervisedProcess[] = d.nodes.map((n) => {
    const alive = isNodeAlive(n.pid, n.port);
    return {
      kind: 'node',
      name: `${d.host}:${n.port}`,
      role: n.role,
      ...(n.replicaOf !== undefined ? { replicaOf: `${d.host}:${n.replicaOf}` } : {}),
      pid: alive ? n.pid : null,
      alive,
      state: state(n.state, alive),
      restarts: n.restarts ?? 0,
      ...(n.lastExit ? { lastExit: n.lastExit } : {}),
    };
  });
  const workers: SupervisedProcess[] = (d.workers ?? []).map((w, i) => {
    const alive = w.pid > 0 && isPidAlive(w.pid);
    return {
      kind: 'worker',
      name: w.name ?? `${w.stage}#${i + 1}`,
      stage: w.stage,
      pid: alive ? w.pid : null,
      alive,
      state: state(w.state, alive),
      restarts: w.restarts ?? 0,
      ...(w.lastExit ? { lastExit: w.lastExit } : {}),
    };
  });
  const configured =
    d.configured ??
    (d.workers ?? []).reduce<Record<string, number>>((a, w) => ({ ...a, [w.stage]: (a[w.stage] ?? 0) + 1 }), {});
  return {
    home,
    supervisor:
      d.supervisorPid === undefined
        ? null
        : {
            pid: d.supervisorPid,
            alive: supervisorAlive,
            restart: d.restart ?? 'never',
            ...(control ? { control } : {}),
          },
    processes: [...nodes, ...workers],
    configured,
    events: readEvents(home),
  };
}
