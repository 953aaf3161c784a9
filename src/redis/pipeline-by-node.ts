import type { ChainableCommander, Cluster, Redis } from 'ioredis';
import { NotDurableError } from '../errors.js';
import { sendCorked } from './corked.js';
import { slotOf } from './slots.js';

/** The defaults of durable writes; the producer's and the worker's settings take theirs from here. */
export const DURABLE_DEFAULTS = {
  /**
   * How long a durable write, once on its primary, may wait for a replica's acknowledgement before
   * it fails (docs/ARCHITECTURE.md says what it must cover).
   */
  timeoutMs: 20_000,
} as const;

/**
 * The longest one WAIT blocks its connection: WAIT is issued again until the bound, so that the
 * other commands queued on that connection (other partitions' appends and commits) are not held
 * for the whole bound.
 */
const WAIT_SLICE_MS = 200;

/** How durable writes are made: wait for one replica, up to `timeoutMs` in all. */
export interface DurableOptions {
  durable?: boolean;
  /** Default: DURABLE_DEFAULTS.timeoutMs. */
  durableTimeoutMs?: number;
}

/** One command of a batch: the key that routes it, and how to add it to a pipeline (with a callback for its own reply). */
export interface Routed {
  key: string;
  /** Adds the command to `p` (a pipeline, or a client whose socket is corked), its reply to `done` if given. */
  add(p: ChainableCommander | Redis, done?: (err: Error | null | undefined, reply: unknown) => void): void;
}

export type Reply = [Error | null, unknown];

/**
 * Sends commands issued together in as few socket writes as possible: one corked write per node
 * (`sendCorked`). On this project's hot paths each write costs about as much as processing a small
 * batch, so partitions that are ready at the same moment share one.
 * With `durable`, the commands of each node are followed by WAIT for one replica, which
 * covers every write before it on that connection: on a single Redis in the same corked write; in a
 * cluster as one pipeline per group of slots served by the same nodes (an ioredis cluster pipeline
 * may not span nodes), so that each WAIT goes where its commands went. A WAIT that returns no
 * replica is not an acknowledgement: WAIT is issued again on that connection (the writes are on the
 * primary already; only their replication is awaited) until `durableTimeoutMs`.
 * @returns each command's [error, reply], in the order given; a command that succeeded but that no
 * replica acknowledged in time has a NotDurableError (naming the primary) with its reply.
 */
export async function pipelineByNode(
  client: Redis | Cluster,
  commands: Routed[],
  opts: DurableOptions = {},
): Promise<Reply[]> {
  if (commands.length === 0) return [];
  // WAIT must follow the commands on each node's own connection: with durable in a cluster, pipelines.
  if (!(client as Cluster).isCluster || !opts.durable) return sendTogether(client, commands, opts);
  const timeoutMs = opts.durableTimeoutMs ?? DURABLE_DEFAULTS.timeoutMs;
  const groups = new Map<string, number[]>();
  const { slots } = client as Cluster;
  commands.forEach((c, i) => {
    // Without a slot map yet, each command goes alone (ioredis waits for the map).
    const g = slots[slotOf(c.key)]?.join(',') ?? `#${i}`;
    const list = groups.get(g);
    if (list) list.push(i);
    else groups.set(g, [i]);
  });
  const out: Reply[] = new Array(commands.length);
  await Promise.all(
    [...groups.values()].map(async (idx) => {
      const p = client.pipeline();
      for (const i of idx) commands[i]!.add(p);
      p.call('WAIT', 1, Math.min(WAIT_SLICE_MS, timeoutMs));
      let replies: Reply[] | null;
      try {
        replies = (await p.exec()) as Reply[] | null;
      } catch (err) {
        for (const i of idx) out[i] = [err as Error, null];
        return;
      }
      idx.forEach((i, j) => (out[i] = replies?.[j] ?? [new Error('no reply in the pipeline'), null]));
      followMoved(client as Cluster, replies);
      const wait = replies?.[idx.length];
      // Nothing landed (every write redirected or refused): there is no write for a replica to hold.
      if (idx.every((i) => out[i]![0])) return;
      if (!wait || wait[0] || Number(wait[1]) >= 1) {
        if (wait?.[0]) for (const i of idx) if (!out[i]![0]) out[i] = [wait[0], out[i]![1]];
        return;
      }
      // The bound runs from the writes' landing: a failover before it is the cluster client's to ride out.
      const deadline = performance.now() + timeoutMs;
      // The writes went to the slot's primary as of now (a redirection during a failover moves them):
      // the WAIT again goes on that node's own connection.
      const key = commands[idx[0]!]!.key;
      const address = slots[slotOf(key)]?.[0];
      const node = (client as Cluster).nodes('master').find((n) => `${n.options.host}:${n.options.port}` === address);
      // No primary known yet: the writes' fate is the caller's retry to settle, as for a lost reply.
      if (!node || !address) {
        const unknown = new Error(`no primary known for the slot of ${key} to WAIT on`);
        for (const i of idx) if (!out[i]![0]) out[i] = [unknown, out[i]![1]];
        return;
      }
      const failure = await confirmReplica(node, address, deadline, timeoutMs);
      if (failure) for (const i of idx) if (!out[i]![0]) out[i] = [failure, out[i]![1]];
    }),
  );
  return out;
}

/**
 * Every command in one corked write per node, each reply to its own callback; `durable` (a single
 * Redis only) ends them with WAIT.
 */
function sendTogether(client: Redis | Cluster, commands: Routed[], opts: DurableOptions): Promise<Reply[]> {
  return sendCorked(client, (c) => issueAll(c as Redis, commands, opts));
}

/**
 * Issues `commands` on `c` (whose socket the caller corks), then WAIT for one replica if `durable`,
 * issued again on `c` until a replica acknowledges or `durableTimeoutMs` has passed.
 * @returns each command's [error, reply], in order, once all are in (with `durable`, once a replica
 * acknowledged them, or with a NotDurableError naming `c`'s node on each that succeeded).
 */
export function issueAll(c: Redis, commands: Routed[], opts: DurableOptions): Promise<Reply[]> {
  const out: Reply[] = new Array(commands.length);
  const wait = opts.durable === true && commands.length > 0;
  const timeoutMs = opts.durableTimeoutMs ?? DURABLE_DEFAULTS.timeoutMs;
  let replicas: Reply = [null, 0];
  const all = new Promise<Reply[]>((resolve) => {
    let left = commands.length + (wait ? 1 : 0);
    if (left === 0) return resolve(out);
    const settle = () => {
      if (--left === 0) resolve(out);
    };
    commands.forEach((cmd, i) =>
      cmd.add(c, (err, reply) => {
        out[i] = [err ?? null, reply];
        settle();
      }),
    );
    if (wait)
      c.call('WAIT', 1, Math.min(WAIT_SLICE_MS, timeoutMs), (err, n) => {
        replicas = [err ?? null, n];
        settle();
      });
  });
  if (!wait) return all;
  return all.then(async () => {
    // The bound runs from the writes' landing, as in a cluster.
    const deadline = performance.now() + timeoutMs;
    if (replicas[0]) {
      for (const [i, r] of out.entries()) if (!r[0]) out[i] = [replicas[0], r[1]];
    } else if (Number(replicas[1]) < 1) {
      const failure = await confirmReplica(c, `${c.options.host}:${c.options.port}`, deadline, timeoutMs);
      if (failure) for (const [i, r] of out.entries()) if (!r[0]) out[i] = [failure, r[1]];
    }
    return out;
  });
}

/**
 * Refreshes the cluster's slot map after a MOVED reply in a pipeline. ioredis follows a redirection
 * in a cluster pipeline only when every command of it got the same one; here WAIT succeeds beside
 * a redirected write, so ioredis returns the MOVED as is and keeps its old map, and every retry
 * would go to the old primary again (after a failover, until something else refreshes the map).
 */
function followMoved(cluster: Cluster, replies: Reply[] | null): void {
  if ((replies ?? []).some(([err]) => err?.message.startsWith('MOVED '))) cluster.refreshSlotsCache();
}

/**
 * After a WAIT that no replica answered: WAIT again on `node` (the connection that sent the writes,
 * so that WAIT covers them) until one replica acknowledges or `deadline`.
 * @returns null once a replica acknowledged; else the error for each write that succeeded: a
 * NotDurableError naming `address`, or the connection's error.
 */
async function confirmReplica(
  node: Redis | undefined,
  address: string,
  deadline: number,
  timeoutMs: number,
): Promise<Error | null> {
  let lastError: Error | null = null;
  for (let left = deadline - performance.now(); node && left > 0; left = deadline - performance.now()) {
    try {
      if (Number(await node.call('WAIT', 1, Math.max(1, Math.min(WAIT_SLICE_MS, Math.ceil(left))))) >= 1) return null;
    } catch (err) {
      // The connection broke: the writes' fate is unknown, which the caller's retry handles.
      lastError = err as Error;
      break;
    }
  }
  return lastError ?? new NotDurableError(address, timeoutMs);
}
