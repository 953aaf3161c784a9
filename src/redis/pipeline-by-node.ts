import type { ChainableCommander, Cluster, Redis } from 'ioredis';
import { sendCorked } from './corked.js';
import { slotOf } from './slots.js';

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
 * With `durable`, the commands of each node are followed by WAIT for one replica (up to 1 s), which
 * covers every write before it on that connection: on a single Redis in the same corked write; in a
 * cluster as one pipeline per group of slots served by the same nodes (an ioredis cluster pipeline
 * may not span nodes), so that each WAIT goes where its commands went.
 * @returns each command's [error, reply], in the order given.
 */
export async function pipelineByNode(
  client: Redis | Cluster,
  commands: Routed[],
  opts: { durable?: boolean } = {},
): Promise<Reply[]> {
  if (commands.length === 0) return [];
  // WAIT must follow the commands on each node's own connection: with durable in a cluster, pipelines.
  if (!(client as Cluster).isCluster || !opts.durable) return sendTogether(client, commands, opts.durable ?? false);
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
      p.call('WAIT', 1, 1000);
      let replies: Reply[] | null;
      try {
        replies = (await p.exec()) as Reply[] | null;
      } catch (err) {
        for (const i of idx) out[i] = [err as Error, null];
        return;
      }
      idx.forEach((i, j) => (out[i] = replies?.[j] ?? [new Error('no reply in the pipeline'), null]));
    }),
  );
  return out;
}

/**
 * Every command in one corked write per node, each reply to its own callback; `durable` (a single
 * Redis only) ends them with WAIT.
 */
function sendTogether(client: Redis | Cluster, commands: Routed[], durable: boolean): Promise<Reply[]> {
  return sendCorked(client, (c) => issueAll(c as Redis, commands, durable));
}

/**
 * Issues `commands` on `c` (whose socket the caller corks), then WAIT for one replica if `durable`.
 * @returns each command's [error, reply], in order, once all are in (WAIT's too: with `durable` the
 * caller goes on only after the replica, or WAIT's 1 s timeout).
 */
export function issueAll(c: Redis, commands: Routed[], durable: boolean): Promise<Reply[]> {
  const out: Reply[] = new Array(commands.length);
  const wait = durable && commands.length > 0;
  return new Promise((resolve) => {
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
    if (wait) c.call('WAIT', 1, 1000, settle);
  });
}
