import { UsageError } from '../errors.js';
import { prng } from '../ml/random.js';
import { probeNodes } from '../observe/probe-nodes.js';
import type { NodeHealth } from '../observe/snapshot.js';
import { readDeployment, type Deployment } from '../embedded/deployment.js';
import { isPidAlive } from '../pid.js';
import type { ChaosEnv } from './chaos-env.js';
import type { NodeTarget, WorkerTarget } from './fault.js';

/** How a fault's node is chosen: by address, or at random among the nodes of a role. */
export interface NodeChoice {
  /** `host:port`, or a port. */
  node?: string | undefined;
  role?: 'primary' | 'replica' | undefined;
  /** Pick at random (seeded) among the matching nodes. */
  random?: boolean | undefined;
  seed: number;
}

/** How a fault's workers are chosen. */
export interface WorkerChoice {
  stage?: string | undefined;
  count: number;
  random?: boolean | undefined;
  seed: number;
}

/**
 * The embedded deployment's record as its supervisor keeps it now: pids change with every restart,
 * and a fault aimed at a pid of an earlier process would hit nothing and look done.
 */
function current(env: ChaosEnv): Deployment | undefined {
  return env.deployment ? (readDeployment(env.home) ?? env.deployment) : undefined;
}

/** `count` items of `items` (in their order), drawn at random with `seed` when `random`. */
function draw<T>(items: T[], count: number, random: boolean | undefined, seed: number): T[] {
  if (!random) return items.slice(0, count);
  const rand = prng(seed);
  const pool = [...items];
  const out: T[] = [];
  while (out.length < count && pool.length > 0) out.push(pool.splice(Math.floor(rand() * pool.length), 1)[0]!);
  return out;
}

function matches(n: NodeHealth, wanted: string): boolean {
  return n.address === wanted || (/^\d+$/.test(wanted) && n.address.endsWith(`:${wanted}`));
}

/**
 * The nodes as they are now (roles change with failovers), with the embedded deployment's pids.
 * @throws UsageError UNKNOWN_NODE, NO_SUCH_NODE or CHOOSE_NODE when the choice names no node or several.
 */
export async function chooseNode(env: ChaosEnv, c: NodeChoice): Promise<NodeTarget> {
  const view = await probeNodes(await env.connection(), env.namespace);
  const nodes = [...view.nodes].sort((a, b) => a.address.localeCompare(b.address));
  const list = nodes.map((n) => `${n.address} ${n.role}${n.up ? '' : ' (down)'}`).join(', ');
  let candidates = nodes.filter((n) => n.up);
  if (c.node !== undefined) {
    const named = nodes.find((n) => matches(n, c.node!));
    if (!named)
      throw new UsageError(
        'UNKNOWN_NODE',
        `--node ${c.node}: no such node in ${env.urls.join(',')} (nodes: ${list})`,
        'name a node as host:port or its port, as `streamctl health` lists them',
      );
    if (!named.up)
      throw new UsageError(
        'NODE_DOWN',
        `--node ${c.node}: ${named.address} is down already (${named.error ?? 'no answer'})`,
        'pick a node that is up (`streamctl health`), or heal first (`streamctl chaos heal`)',
      );
    candidates = [named];
  }
  if (c.role) candidates = candidates.filter((n) => n.role === c.role);
  // A primary with no replica cannot fail over: a fault aimed at "a primary" means one that can,
  // when there is one (after failovers, a shard may be left without a replica).
  if (c.role === 'primary' && c.node === undefined) {
    const covered = candidates.filter((p) =>
      nodes.some((r) => r.up && r.role === 'replica' && r.primaryAddress === p.address),
    );
    if (covered.length) candidates = covered;
  }
  if (candidates.length === 0)
    throw new UsageError(
      'NO_SUCH_NODE',
      `no node that is up${c.role ? ` with role ${c.role}` : ''}${c.node ? ` at ${c.node}` : ''} (nodes: ${list})`,
      c.role ? `drop --role, or pick another (nodes: ${list})` : 'check `streamctl health`',
    );
  if (candidates.length > 1 && !c.random)
    throw new UsageError(
      'CHOOSE_NODE',
      `${candidates.length} nodes match: ${candidates.map((n) => n.address).join(', ')}`,
      'pick one with --node ADDR, or add --random (with --seed N to repeat the choice)',
    );
  return targetOf(draw(candidates, 1, c.random, c.seed)[0]!, current(env));
}

/** A node of a view as a fault's target, with its pid from the deployment's record as it is now. */
function targetOf(n: NodeHealth, deployment: Deployment | undefined): NodeTarget {
  const at = n.address.lastIndexOf(':');
  const port = Number(n.address.slice(at + 1));
  const pid = deployment?.nodes.find((x) => x.port === port)?.pid;
  return {
    type: 'node',
    address: n.address,
    host: n.address.slice(0, at),
    port,
    role: n.role,
    ...(pid ? { pid } : {}),
  };
}

/** Every node that is up (of `role`, when given), by address: the targets of a rolling fault. */
export async function everyNode(env: ChaosEnv, role?: 'primary' | 'replica'): Promise<NodeTarget[]> {
  const view = await probeNodes(await env.connection(), env.namespace);
  const up = view.nodes
    .filter((n) => n.up && (role === undefined || n.role === role))
    .sort((a, b) => a.address.localeCompare(b.address));
  const deployment = current(env);
  return up.map((n) => targetOf(n, deployment));
}

/** The replica that would take over from `primary` (the first up replica of it, by address). */
export async function replicaOf(env: ChaosEnv, primary: string): Promise<NodeTarget | undefined> {
  const view = await probeNodes(await env.connection(), env.namespace);
  const r = view.nodes
    .filter((n) => n.up && n.role === 'replica' && n.primaryAddress === primary)
    .sort((a, b) => a.address.localeCompare(b.address))[0];
  return r ? targetOf(r, current(env)) : undefined;
}

/**
 * Workers of the embedded deployment that run now, by their slot name.
 * @throws UsageError UNKNOWN_STAGE or NO_WORKER when there is none to choose.
 */
export function chooseWorkers(env: ChaosEnv, c: WorkerChoice): WorkerTarget[] {
  const all = (current(env)?.workers ?? [])
    .filter((w) => w.state !== 'stopped')
    .map((w) => ({ type: 'worker' as const, name: w.name ?? `${w.stage}#?`, stage: w.stage, pid: w.pid }))
    .sort((a, b) => a.name.localeCompare(b.name));
  const stages = [...new Set(all.map((w) => w.stage))];
  if (c.stage !== undefined && !stages.includes(c.stage))
    throw new UsageError(
      'UNKNOWN_STAGE',
      `--stage ${c.stage}: the deployment runs no worker of that stage (stages: ${stages.join(', ') || 'none'})`,
      'pick a stage that `streamctl health` lists',
    );
  const running = all.filter((w) => (c.stage === undefined || w.stage === c.stage) && w.pid > 0 && isPidAlive(w.pid));
  if (running.length < c.count)
    throw new UsageError(
      'NO_WORKER',
      `--count ${c.count}: only ${running.length} worker(s)${c.stage ? ` of stage ${c.stage}` : ''} run now`,
      'lower --count, or wait until the supervisor has restarted the others (`streamctl health`)',
    );
  return draw(running, c.count, c.random, c.seed);
}
