import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import { RuntimeError, UsageError } from '../errors.js';
import type { ProcessExit, RestartPolicy, SupervisedProcess } from '../observe/snapshot.js';
import { createCluster, primaryOf, slotRange, waitForClusterOk } from './cluster-create.js';
import { failoverWaitMs, waitForFailover } from './node-failover.js';
import { findFreePorts, isPortFree } from './ports.js';
import { ensureCgroup, nodeCgroup, planCgroups, removeCgroups, type DeploymentCgroups } from './cgroups.js';
import { isNodeAlive, startNode, stopNode, type NodeProcess } from './redis-server.js';
import { prometheusHome } from './prometheus.js';

const LOCAL_HOST = '127.0.0.1';

/** One redis-server of the embedded deployment, as recorded in the state folder. */
export interface DeploymentNode {
  port: number;
  pid: number;
  dir: string;
  role: 'primary' | 'replica';
  /** For a cluster primary at creation: its slot range. */
  slots?: [number, number];
  /** For a cluster replica: the port of the primary it was formed to follow. */
  replicaOf?: number;
  /** With `up --fault-proxy`: the port of the node's fault proxy, through which every client connects. */
  proxyPort?: number;
  /** Kept by the supervisor: restarts, the last exit, the state. */
  restarts?: number;
  lastExit?: ProcessExit;
  state?: SupervisedProcess['state'];
}

/** A stage worker process of the deployment, as its supervisor records it. */
export interface DeploymentWorker {
  stage: string;
  pid: number;
  /** The worker slot, `stage#n`, which keeps its name across restarts. */
  name?: string;
  restarts?: number;
  lastExit?: ProcessExit;
  state?: SupervisedProcess['state'];
}

/** The record in `<home>/deployment.json` through which every command finds the embedded Redis. */
export interface Deployment {
  version: 1;
  mode: 'cluster' | 'standalone';
  primaries: number;
  replicas: number;
  persist: boolean;
  nodeTimeoutMs: number;
  host: string;
  nodes: DeploymentNode[];
  startedAt: string;
  /** False after `down --keep-data`: the files are there, the processes are not. */
  running: boolean;
  detached: boolean;
  /** The supervisor that owns the processes: the foreground `up`, or the background process of `up --detach`. */
  supervisorPid?: number;
  /** Whether the supervisor restarts processes that die. */
  restart?: RestartPolicy;
  /** Stage worker processes started by `up`, stopped by `down` before Redis. */
  workers?: DeploymentWorker[];
  /** Worker processes per stage the deployment runs. */
  configured?: Record<string, number>;
  namespace?: string;
  /** As root: the cgroups each process runs in, so that kernel faults can single one out (`cgroups.ts`). */
  cgroups?: DeploymentCgroups;
  /** The supervisor's metrics endpoint, and its Prometheus service discovery of the workers. */
  metrics?: { url: string; discovery: string };
  /** The Prometheus that `up --prometheus` started. */
  prometheus?: { pid: number; url: string; config: string };
}

/** The state folder when neither --home nor STREAMCTL_HOME names one, relative to the working folder. */
export const DEFAULT_HOME = '.streamctl';

export function resolveHome(home: string, cwd: string): string {
  return resolve(cwd, home);
}

/** The stage workers' log of the deployment in `home`: each line names the worker slot and its pid. */
export function workersLog(home: string): string {
  return join(home, 'workers.log');
}

/** The logs of a deployment's processes, removed with it unless its data is kept. */
const LOG_FILES = ['events.log', 'workers.log', 'supervisor.log'];

function stateFile(home: string): string {
  return join(home, 'deployment.json');
}

/** Reads the recorded deployment, if any. A corrupt record is a config error naming the file. */
export function readDeployment(home: string): Deployment | undefined {
  const file = stateFile(home);
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Deployment;
  } catch (err) {
    throw new UsageError(
      'BAD_STATE',
      `cannot read ${file}: ${(err as Error).message}`,
      `remove ${file} (and stop any redis-server it listed), or use another --home`,
    );
  }
}

/** Writes the record atomically, so a reader never sees half of it. */
export function writeDeployment(home: string, d: Deployment): void {
  mkdirSync(home, { recursive: true });
  const tmp = `${stateFile(home)}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(d, null, 2)}\n`);
  renameSync(tmp, stateFile(home));
}

/** redis:// URLs of every node; any of them is a valid cluster seed. */
export function deploymentUrls(d: Deployment): string[] {
  return d.nodes.map((n) => `redis://${d.host}:${n.port}`);
}

/**
 * The URLs a client connects to: the fault proxies' when the deployment runs them (`up
 * --fault-proxy`), else the nodes'.
 */
export function clientUrls(d: Deployment): string[] {
  return d.nodes.map((n) => `redis://${d.host}:${n.proxyPort ?? n.port}`);
}

/** Each node's address mapped to its fault proxy's, when the deployment runs them; else undefined. */
export function proxyMap(d: Deployment): Record<string, { host: string; port: number }> | undefined {
  if (!d.nodes.some((n) => n.proxyPort)) return undefined;
  return Object.fromEntries(
    d.nodes.filter((n) => n.proxyPort).map((n) => [`${d.host}:${n.port}`, { host: d.host, port: n.proxyPort! }]),
  );
}

/** The nodes whose process is alive. */
export function liveNodes(d: Deployment): DeploymentNode[] {
  return d.nodes.filter((n) => isNodeAlive(n.pid, n.port));
}

export interface StartOptions {
  home: string;
  bin: string;
  mode: 'cluster' | 'standalone';
  primaries: number;
  replicas: number;
  basePort: number;
  persist: boolean;
  nodeTimeoutMs: number;
  detached: boolean;
  /** Discard kept data instead of resuming from it. */
  fresh: boolean;
  onProgress?: (message: string) => void;
}

export interface Started {
  deployment: Deployment;
  processes: NodeProcess[];
  resumed: boolean;
}

function nodesDir(home: string): string {
  return join(home, 'nodes');
}

/** Whether a recorded, stopped deployment can be restarted from its files with the asked shape. */
function resumable(existing: Deployment | undefined, o: StartOptions): existing is Deployment {
  if (!existing || o.fresh) return false;
  if (!existing.nodes.every((n) => existsSync(n.dir))) return false;
  if (
    existing.mode !== o.mode ||
    (o.mode === 'cluster' && (existing.primaries !== o.primaries || existing.replicas !== o.replicas))
  ) {
    const shape =
      existing.mode === 'cluster'
        ? `a cluster of ${existing.primaries} primaries with ${existing.replicas} replica(s) each`
        : 'a standalone node';
    throw new UsageError(
      'DATA_MISMATCH',
      `the state folder ${o.home} holds data of ${shape}`,
      'add --fresh to discard it, or ask for the same shape, or use another --home',
    );
  }
  return true;
}

function connectLocal(port: number): Redis {
  const c = new Redis({
    host: LOCAL_HOST,
    port,
    lazyConnect: false,
    maxRetriesPerRequest: 1,
    retryStrategy: (t) => (t > 20 ? null : 100),
  });
  c.on('error', () => {});
  return c;
}

/**
 * Starts the embedded deployment (or restarts one kept with `down --keep-data`), forms the cluster,
 * and records it. On any failure every process it started is stopped again.
 * @throws RuntimeError ALREADY_RUNNING when the recorded deployment is alive.
 */
export async function startDeployment(o: StartOptions): Promise<Started> {
  const existing = readDeployment(o.home);
  if (existing && liveNodes(existing).length > 0) {
    const ports = existing.nodes.map((n) => n.port).join(', ');
    throw new RuntimeError(
      'ALREADY_RUNNING',
      `an embedded deployment is already running in ${o.home} (ports ${ports})`,
      'use it as it is (`streamctl health`), or stop it first with `streamctl down`',
    );
  }
  const resumed = resumable(existing, o);
  const count = o.mode === 'standalone' ? 1 : o.primaries * (1 + o.replicas);
  let ports: number[];
  if (resumed) {
    ports = existing.nodes.map((n) => n.port);
    for (const p of ports) {
      if (!(await isPortFree(p)))
        throw new RuntimeError(
          'PORT_IN_USE',
          `port ${p} of the kept deployment is in use`,
          'free the port, or add --fresh to start anew on free ports',
        );
    }
  } else {
    rmSync(nodesDir(o.home), { recursive: true, force: true });
    ports = await findFreePorts(o.basePort, count, o.mode === 'cluster');
  }
  o.onProgress?.(
    `${resumed ? 'restarting' : 'starting'} ${count} redis-server process${count > 1 ? 'es' : ''} on ports ${ports.join(', ')}`,
  );

  const processes: NodeProcess[] = [];
  const deployment: Deployment = {
    version: 1,
    mode: o.mode,
    primaries: o.mode === 'standalone' ? 1 : o.primaries,
    replicas: o.mode === 'standalone' ? 0 : o.replicas,
    persist: o.persist,
    nodeTimeoutMs: o.nodeTimeoutMs,
    host: LOCAL_HOST,
    nodes: [],
    startedAt: new Date().toISOString(),
    running: true,
    detached: o.detached,
    ...(o.detached ? {} : { supervisorPid: process.pid }),
  };
  const cgroups = planCgroups(o.home);
  if (cgroups) deployment.cgroups = cgroups;
  const clients: Redis[] = [];
  try {
    const started = await Promise.allSettled(
      ports.map((port) =>
        startNode({
          bin: o.bin,
          port,
          dir: join(nodesDir(o.home), String(port)),
          cluster: o.mode === 'cluster',
          persist: o.persist,
          nodeTimeoutMs: o.nodeTimeoutMs,
          detached: o.detached,
          cgroup: cgroups && ensureCgroup(cgroups, nodeCgroup(port)),
        }),
      ),
    );
    for (const s of started) if (s.status === 'fulfilled') processes.push(s.value);
    deployment.nodes = processes.map((p, i) => ({
      port: p.port,
      pid: p.pid,
      dir: p.dir,
      role: i < deployment.primaries ? 'primary' : 'replica',
      ...(o.mode === 'cluster' && i < deployment.primaries ? { slots: slotRange(i, deployment.primaries) } : {}),
      ...(o.mode === 'cluster' && i >= deployment.primaries
        ? { replicaOf: ports[primaryOf(i, deployment.primaries)]! }
        : {}),
    }));
    writeDeployment(o.home, deployment);
    const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;

    if (o.mode === 'cluster') {
      clients.push(...ports.map(connectLocal));
      if (resumed) {
        o.onProgress?.('waiting for the cluster to re-form from its nodes.conf');
        await waitForClusterOk(clients, 30_000);
        await refreshRoles(deployment, clients);
        writeDeployment(o.home, deployment);
      } else {
        o.onProgress?.(
          `forming the cluster: ${deployment.primaries} primaries, ${deployment.replicas} replica(s) each`,
        );
        await createCluster({ host: LOCAL_HOST, ports, primaries: deployment.primaries }, clients);
      }
    }
    return { deployment, processes, resumed };
  } catch (err) {
    await Promise.all(processes.map((p) => stopNode(p, 1000)));
    if (cgroups) await removeCgroups(cgroups);
    rmSync(stateFile(o.home), { force: true });
    throw err;
  } finally {
    for (const c of clients) c.disconnect();
  }
}

/** Starts one recorded node again, on its port, from its folder, as this process's child. */
export function startRecordedNode(bin: string, d: Deployment, n: DeploymentNode): Promise<NodeProcess> {
  return startNode({
    bin,
    port: n.port,
    dir: n.dir,
    cluster: d.mode === 'cluster',
    persist: d.persist,
    nodeTimeoutMs: d.nodeTimeoutMs,
    detached: false,
    cgroup: d.cgroups && ensureCgroup(d.cgroups, nodeCgroup(n.port)),
  });
}

/**
 * Takes over a recorded deployment whose supervisor is gone but some of whose nodes still run: the
 * live nodes stay as they are, the dead ones start again from their folders (a dead primary once
 * the cluster has failed it over), and the cluster must come back to ok.
 * @returns the nodes started again.
 */
export async function repairDeployment(
  home: string,
  d: Deployment,
  o: { bin: string; onProgress?: (message: string) => void },
): Promise<Started & { restarted: number[] }> {
  const dead = d.nodes.filter((n) => !isNodeAlive(n.pid, n.port));
  const livePorts = d.nodes.filter((n) => !dead.includes(n)).map((n) => n.port);
  o.onProgress?.(
    dead.length
      ? `repairing the deployment in ${home}: starting ${dead.length} dead node(s) again (ports ${dead.map((n) => n.port).join(', ')})`
      : `taking over the deployment in ${home}`,
  );
  const processes: NodeProcess[] = [];
  for (const n of dead) {
    if (d.mode === 'cluster')
      await waitForFailover(d.host, n.port, livePorts, failoverWaitMs(d.nodeTimeoutMs), new AbortController().signal);
    const p = await startRecordedNode(o.bin, d, n);
    processes.push(p);
    n.pid = p.pid;
  }
  if (d.mode === 'cluster') {
    const clients = d.nodes.map((n) => connectLocal(n.port));
    try {
      await waitForClusterOk(clients, 30_000);
    } finally {
      for (const c of clients) c.disconnect();
    }
  }
  d.running = true;
  writeDeployment(home, d);
  return { deployment: d, processes, resumed: true, restarted: dead.map((n) => n.port) };
}

/** After a restart, failovers may have swapped roles: record what the nodes say now. */
async function refreshRoles(d: Deployment, clients: Redis[]): Promise<void> {
  const infos = await Promise.all(clients.map((c) => c.info('replication')));
  d.nodes.forEach((n, i) => {
    n.role = /role:master/.test(infos[i] ?? '') ? 'primary' : 'replica';
    delete n.slots;
    const primaryPort = /master_port:(\d+)/.exec(infos[i] ?? '')?.[1];
    if (primaryPort) n.replicaOf = Number(primaryPort);
    else delete n.replicaOf;
  });
}

/**
 * Stops every node of the deployment and forgets it; with `keepData` the files stay and the record
 * is marked stopped so that the next `up` restarts from them.
 * @returns the nodes that were still running.
 */
export async function stopDeployment(
  home: string,
  d: Deployment,
  opts: { keepData: boolean },
): Promise<DeploymentNode[]> {
  const live = liveNodes(d);
  await Promise.all(live.map((n) => stopNode(n)));
  if (d.cgroups) await removeCgroups(d.cgroups);
  if (opts.keepData) {
    const { supervisorPid: _owner, ...rest } = d;
    writeDeployment(home, { ...rest, running: false, detached: true });
  } else {
    rmSync(nodesDir(home), { recursive: true, force: true });
    for (const f of LOG_FILES) rmSync(join(home, f), { force: true });
    rmSync(prometheusHome(home), { recursive: true, force: true });
    rmSync(stateFile(home), { force: true });
  }
  return live;
}
