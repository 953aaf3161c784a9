// Hand-built snapshots and deployment statuses of the embedded 3+3 cluster, for the pure tests.
import type {
  DeploymentStatus,
  NodeHealth,
  Snapshot,
  SupervisedProcess,
  WorkerHealth,
} from '../../src/observe/snapshot.js';

/** `127.0.0.1:<port>`, a node's address. */
export const A = (port: number) => `127.0.0.1:${port}`;

/** A node that is up, as the snapshot reports it. */
export function node(port: number, role: 'primary' | 'replica', extra: Partial<NodeHealth> = {}): NodeHealth {
  return {
    id: `id${port}`,
    address: A(port),
    role,
    up: true,
    flags: [role === 'primary' ? 'master' : 'slave'],
    ...extra,
  };
}

/** The embedded 3+3 cluster as it formed: 7000-7002 primaries, 7003-7005 their replicas in order. */
export function formed(): SupervisedProcess[] {
  const proc = (port: number, extra: Partial<SupervisedProcess>): SupervisedProcess => ({
    kind: 'node',
    name: A(port),
    pid: 100 + port - 7000,
    alive: true,
    state: 'running',
    restarts: 0,
    ...extra,
  });
  return [
    proc(7000, { role: 'primary' }),
    proc(7001, { role: 'primary' }),
    proc(7002, { role: 'primary' }),
    proc(7003, { role: 'replica', replicaOf: A(7000) }),
    proc(7004, { role: 'replica', replicaOf: A(7001) }),
    proc(7005, { role: 'replica', replicaOf: A(7002) }),
  ];
}

/** The nodes of the cluster as it formed, all up. */
export function healthyNodes(): NodeHealth[] {
  return [
    node(7000, 'primary', { slots: 5461 }),
    node(7001, 'primary', { slots: 5462 }),
    node(7002, 'primary', { slots: 5461 }),
    node(7003, 'replica', { slots: 0, primaryAddress: A(7000) }),
    node(7004, 'replica', { slots: 0, primaryAddress: A(7001) }),
    node(7005, 'replica', { slots: 0, primaryAddress: A(7002) }),
  ];
}

/** A healthy snapshot of the cluster with nothing in the namespace. */
export function snapshot(extra: Partial<Snapshot> = {}): Snapshot {
  return {
    status: 'ok',
    mode: 'cluster',
    target: ['redis://127.0.0.1:7000'],
    checkedAt: '2026-12-06T10:00:00.000Z',
    nodes: healthyNodes(),
    cluster: { state: 'ok', knownNodes: 6, size: 3, currentEpoch: 6 },
    slots: { expected: 16384, assigned: 16384, covered: 16384, pfail: 0, fail: 0 },
    failing: [],
    problems: [],
    warnings: [],
    namespace: 'streamctl',
    streams: [],
    groups: [],
    workers: [],
    stages: [],
    ...extra,
  };
}

/** A worker of stage `analyze`. */
export function worker(id: string, pid: number, live = true): WorkerHealth {
  return { id, stage: 'analyze', pid, host: 'h', live, lastSeenMs: 100, owned: live ? 8 : 0, received: 10, rate: 0 };
}

/** A supervised worker slot (`analyze#1`), running while it has a pid. */
export function workerSlot(name: string, stage: string, pid: number | null, extra: Partial<SupervisedProcess> = {}) {
  const slot: SupervisedProcess = {
    kind: 'worker',
    name,
    stage,
    pid,
    alive: pid !== null,
    state: 'running',
    restarts: 0,
  };
  return { ...slot, ...extra };
}

/** A deployment status with a running supervisor and the cluster's processes as formed. */
export function deployment(extra: Partial<DeploymentStatus> = {}): DeploymentStatus {
  return {
    home: '/tmp/home',
    supervisor: { pid: 42, alive: true, restart: 'on-failure', control: '/tmp/home/control.sock' },
    processes: formed(),
    configured: {},
    events: [],
    ...extra,
  };
}
