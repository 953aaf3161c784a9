import { pipelineRead, settleStatus } from './judge.js';
import type { DeploymentStatus, NodeHealth, Snapshot, StageHealth, SupervisedProcess } from './snapshot.js';

function listed(addresses: string[]): string {
  return addresses.length === 1 ? `replica ${addresses[0]}` : `replicas ${addresses.join(', ')}`;
}

/**
 * How a node differs from what the deployment recorded when it formed, in words; undefined when it
 * is as it was. A primary that is down names its replica that took its slots over, if one did.
 */
function changeOf(
  n: NodeHealth,
  p: SupervisedProcess,
  nodes: NodeHealth[],
  processes: SupervisedProcess[],
  mode: Snapshot['mode'],
): string | undefined {
  if (!p.role) return undefined;
  const was = p.role === 'primary' ? 'was primary' : `was replica${p.replicaOf ? ` of ${p.replicaOf}` : ''}`;
  if (!n.up) {
    if (p.role !== 'primary') return `${was}, down`;
    const replicas = processes.filter((r) => r.kind === 'node' && r.replicaOf === n.address).map((r) => r.name);
    const promoted = nodes.find(
      (x) =>
        replicas.includes(x.address) && x.up && x.role === 'primary' && (mode === 'standalone' || (x.slots ?? 0) > 0),
    );
    if (promoted) return `${was}, down; its replica ${promoted.address} promoted`;
    return replicas.length ? `${was}, down; its ${listed(replicas)} not promoted` : `${was}, down`;
  }
  if (n.role !== p.role)
    return n.role === 'replica'
      ? `${was}, now replica of ${n.primaryAddress ?? 'an unknown primary'}`
      : `${was}, now primary`;
  if (n.role === 'replica' && p.replicaOf && n.primaryAddress && n.primaryAddress !== p.replicaOf)
    return `${was}, now replica of ${n.primaryAddress}`;
  if (n.role === 'primary' && mode === 'cluster' && n.slots === 0) return `${was}, now serves no slots`;
  return undefined;
}

function describeExit(p: SupervisedProcess): string {
  return p.lastExit ? ` (last exit: ${p.lastExit.reason} at ${p.lastExit.at})` : '';
}

/**
 * The snapshot with what the embedded deployment's supervisor knows merged in; `snapshot` itself is
 * not changed. Nodes get their pid, restarts, last exit and recorded role (matched by address) and,
 * when they are not as they were, a `change` in words; workers their slot's restarts (matched by
 * pid); stages their configured worker count and restarts, with a row for a configured stage that
 * has left no trace in Redis.
 *
 * Judgement added: a stage with fewer live workers than configured (STAGE_UNDERSTAFFED) and a
 * process the supervisor gave up on (PROCESS_GAVE_UP) are problems; a recorded supervisor that is
 * gone is a warning (SUPERVISOR_GONE), since what runs still runs.
 */
export function mergeDeployment(snapshot: Snapshot, deployment: DeploymentStatus): Snapshot {
  const out: Snapshot = {
    ...snapshot,
    nodes: snapshot.nodes.map((n) => ({ ...n })),
    workers: snapshot.workers.map((w) => ({ ...w })),
    stages: snapshot.stages.map((s) => ({ ...s })),
    problems: [...snapshot.problems],
    warnings: [...snapshot.warnings],
    deployment,
  };
  const processes = deployment.processes;
  const nodeProcesses = new Map(processes.filter((p) => p.kind === 'node').map((p) => [p.name, p]));
  for (const n of out.nodes) {
    const p = nodeProcesses.get(n.address);
    if (!p) continue;
    if (p.pid !== null) n.pid = p.pid;
    n.restarts = p.restarts;
    if (p.lastExit) n.lastExit = p.lastExit;
    if (p.role) n.was = p.role;
    const change = changeOf(n, p, out.nodes, processes, out.mode);
    if (change) n.change = change;
  }

  const slots = processes.filter((p) => p.kind === 'worker');
  for (const w of out.workers) {
    const p = slots.find((s) => s.pid === w.pid);
    if (p) w.restarts = p.restarts;
  }

  const read = pipelineRead(snapshot);
  const stages = new Map(out.stages.map((s) => [s.stage, s]));
  const stageOf = (name: string): StageHealth => {
    let s = stages.get(name);
    if (!s) {
      s = { stage: name, liveWorkers: 0, lag: 0, pending: 0, ...(read ? { deadLetters: 0 } : {}) };
      stages.set(name, s);
      out.stages.push(s);
    }
    return s;
  };
  for (const [name, count] of Object.entries(deployment.configured)) {
    const s = stageOf(name);
    s.configuredWorkers = count;
    s.restarts ??= 0;
  }
  for (const p of slots) {
    if (p.stage === undefined) continue;
    const s = stageOf(p.stage);
    s.restarts = (s.restarts ?? 0) + p.restarts;
  }

  if (read) {
    for (const s of out.stages) {
      if (s.configuredWorkers !== undefined && s.liveWorkers < s.configuredWorkers)
        out.problems.push({
          code: 'STAGE_UNDERSTAFFED',
          message: `stage ${s.stage} has ${s.liveWorkers} of ${s.configuredWorkers} configured workers live`,
        });
    }
  }
  for (const p of processes) {
    if (p.state !== 'gave-up') continue;
    const what = p.kind === 'node' ? `node ${p.name}` : `worker ${p.name}`;
    out.problems.push({
      code: 'PROCESS_GAVE_UP',
      ...(p.kind === 'node' ? { node: p.name } : {}),
      message: `the supervisor gave up restarting ${what} after ${p.restarts} restarts${describeExit(p)}`,
    });
  }
  const supervisor = deployment.supervisor;
  if (supervisor && !supervisor.alive)
    out.warnings.push({
      code: 'SUPERVISOR_GONE',
      message: `the supervisor (pid ${supervisor.pid}) is not running: nothing restarts a process that dies`,
    });
  settleStatus(out);
  return out;
}
