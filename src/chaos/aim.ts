import { UsageError } from '../errors.js';
import type { ChaosEnv } from './chaos-env.js';
import type { Fault, FaultKind, FaultTarget } from './fault.js';
import { FAULT_ACTIONS, KERNEL_FAULTS } from './faults/index.js';
import { chooseNode, chooseWorkers, everyNode, replicaOf } from './targets.js';

/** Lasting faults' duration when none is given. */
export const DEFAULT_FOR_MS = 10_000;

/** A fault as a user asks for it (`chaos <kind>` flags, or a scenario's method entry). */
export interface FaultRequest {
  kind: FaultKind;
  node?: string | undefined;
  role?: 'primary' | 'replica' | undefined;
  random?: boolean | undefined;
  seed: number;
  stage?: string | undefined;
  count: number;
  /** Lasting faults: ms. */
  for?: number | undefined;
  mode?: 'all' | 'write' | undefined;
  /** Network faults: latency and jitter (ms), bandwidth (kilobytes/s), the direction of the traffic. */
  ms?: number | undefined;
  jitter?: number | undefined;
  kbps?: number | undefined;
  direction?: 'upstream' | 'downstream' | 'both' | undefined;
  /** loss: the share of packets dropped, in percent. */
  percent?: number | undefined;
  /** Node faults: every node that is up (of `role`), one after another (a rolling restart). */
  all?: boolean | undefined;
}

let sequence = 0;

/**
 * Aims a requested fault at the deployment as it is now (roles change with failovers): the faults
 * to inject, one per target. Nothing is touched yet.
 * @throws UsageError (exit 2) when it cannot be applied here: NOT_HERE, NOT_CLUSTER, NO_REPLICA, or
 *   one of the target choice's codes.
 */
export async function aimFault(env: ChaosEnv, r: FaultRequest): Promise<Fault[]> {
  const action = FAULT_ACTIONS[r.kind];
  if (!env.deployment && !action.external)
    throw new UsageError(
      'NOT_HERE',
      `chaos ${r.kind} acts on the processes of the embedded deployment; ${env.urls.join(',')} (${env.source}) is a Redis streamctl did not start`,
      "drop --redis (and STREAMCTL_REDIS_URL) to aim at `streamctl up`'s deployment, or use `chaos failover` or `chaos client-pause`, which Redis itself offers",
    );
  const durationMs = action.lasting ? (r.for ?? DEFAULT_FOR_MS) : undefined;
  const fault = (target: FaultTarget, params: Record<string, unknown> = {}): Fault => ({
    id: `${r.kind}-${Date.now().toString(36)}-${process.pid}-${sequence++}`,
    kind: r.kind,
    target,
    params,
    ...(durationMs !== undefined ? { durationMs } : {}),
  });
  if (action.target === 'worker')
    return chooseWorkers(env, { stage: r.stage, count: r.count, random: r.random, seed: r.seed }).map((t) => fault(t));
  if (r.kind === 'failover') {
    const conn = await env.connection();
    if (conn.mode !== 'cluster')
      throw new UsageError(
        'NOT_CLUSTER',
        `chaos failover needs a Redis Cluster; ${env.urls.join(',')} is a single Redis`,
        'run it against a cluster (`streamctl up` starts one by default)',
      );
    const picked = await chooseNode(env, {
      node: r.node,
      role: r.node ? undefined : 'replica',
      random: r.random,
      seed: r.seed,
    });
    if (picked.role === 'replica') return [fault(picked)];
    const replica = await replicaOf(env, picked.address);
    if (!replica)
      throw new UsageError(
        'NO_REPLICA',
        `${picked.address} is a primary with no replica up: nothing can take over`,
        'pick a replica with --node, or wait until `streamctl health` shows the replica up',
      );
    return [fault(replica, { primary: picked.address })];
  }
  const params: Record<string, unknown> =
    r.kind === 'client-pause'
      ? { mode: r.mode ?? 'all' }
      : Object.fromEntries(
          Object.entries({
            ms: r.ms,
            jitter: r.jitter,
            kbps: r.kbps,
            direction: r.direction,
            percent: r.percent,
          }).filter(([, v]) => v !== undefined),
        );
  // A kernel fault on a node's clients, scoped to workers of one stage: their sockets' cgroups.
  if (r.stage !== undefined && KERNEL_FAULTS.includes(r.kind))
    params.workers = chooseWorkers(env, { stage: r.stage, count: r.count, random: r.random, seed: r.seed }).map(
      (w) => w.name,
    );
  if (r.all) return (await everyNode(env, r.role)).map((t) => fault(t, params));
  const target = await chooseNode(env, { node: r.node, role: r.role, random: r.random, seed: r.seed });
  return [fault(target, params)];
}
