import type { Redis } from 'ioredis';
import { RuntimeError } from '../errors.js';
import { parseClusterNodes } from '../redis/info.js';
import { SLOT_COUNT } from '../redis/slots.js';
import { waitFor } from '../wait.js';

/** Contiguous slot range of primary `i` of `primaries`, split as evenly as redis-cli does. */
export function slotRange(i: number, primaries: number): [number, number] {
  return [Math.round((i * SLOT_COUNT) / primaries), Math.round(((i + 1) * SLOT_COUNT) / primaries) - 1];
}

/** The layout of a cluster: which node is a primary and which primary each replica follows. */
export interface ClusterPlan {
  host: string;
  ports: number[];
  primaries: number;
}

/** Index of the primary that replica node `i` follows (replicas spread round-robin). */
export function primaryOf(i: number, primaries: number): number {
  return (i - primaries) % primaries;
}

function knownNodes(nodesText: string): { count: number; handshaking: boolean } {
  const lines = nodesText.trim().split('\n').filter(Boolean);
  return { count: lines.length, handshaking: lines.some((l) => /handshake|noaddr/.test(l)) };
}

/**
 * Forms a Redis Cluster from fresh nodes without redis-cli: distinct config epochs, slots to the
 * primaries, MEET, REPLICATE, then waits until every node reports `cluster_state:ok`.
 * `clients[i]` talks to `plan.ports[i]`; the first `plan.primaries` nodes become primaries.
 */
export async function createCluster(plan: ClusterPlan, clients: Redis[], timeoutMs = 20_000): Promise<void> {
  const n = clients.length;
  const deadline = Date.now() + timeoutMs;
  const left = () => Math.max(1000, deadline - Date.now());
  const timeout = (what: string) => (last: unknown) =>
    new RuntimeError(
      'CLUSTER_CREATE_FAILED',
      `cluster did not form: ${what}${last ? ` (${(last as Error).message})` : ''}`,
      'see the redis.log files in the state folder; try --fresh',
    );

  const ids = await Promise.all(clients.map((c) => c.call('CLUSTER', 'MYID') as Promise<string>));
  // Distinct epochs avoid the collision-resolution rounds a fresh cluster otherwise goes through.
  await Promise.all(clients.map((c, i) => c.call('CLUSTER', 'SET-CONFIG-EPOCH', String(i + 1))));
  await Promise.all(
    clients.slice(0, plan.primaries).map((c, i) => {
      const [from, to] = slotRange(i, plan.primaries);
      return c.call('CLUSTER', 'ADDSLOTSRANGE', String(from), String(to));
    }),
  );
  await Promise.all(
    clients.slice(1).map((_, i) => clients[0]!.call('CLUSTER', 'MEET', plan.host, String(plan.ports[i + 1]))),
  );
  await waitFor(
    async () => {
      const views = await Promise.all(clients.map((c) => c.call('CLUSTER', 'NODES') as Promise<string>));
      return views.every((v) => {
        const k = knownNodes(v);
        return k.count === n && !k.handshaking;
      })
        ? true
        : undefined;
    },
    { timeoutMs: left(), onTimeout: timeout('nodes did not all meet') },
  );
  for (let i = plan.primaries; i < n; i++) {
    const primaryId = ids[primaryOf(i, plan.primaries)]!;
    // A replica may not yet know the primary as such for a few gossip rounds: retry until it does.
    await waitFor(async () => ((await clients[i]!.call('CLUSTER', 'REPLICATE', primaryId)) ? true : undefined), {
      timeoutMs: left(),
      intervalMs: 100,
      onTimeout: timeout(`node ${plan.ports[i]} could not replicate its primary`),
    });
  }
  await waitForClusterOk(clients, left());
}

/**
 * Waits until every node reports `cluster_state:ok` with all slots served and all nodes known, and
 * every replica has its replication link up.
 */
export async function waitForClusterOk(clients: Redis[], timeoutMs: number): Promise<void> {
  const n = clients.length;
  await waitFor(
    async () => {
      const infos = await Promise.all(clients.map((c) => c.call('CLUSTER', 'INFO') as Promise<string>));
      const ok = infos.every(
        (t) =>
          /cluster_state:ok/.test(t) &&
          new RegExp(`cluster_slots_ok:${SLOT_COUNT}\\b`).test(t) &&
          new RegExp(`cluster_known_nodes:${n}\\b`).test(t),
      );
      if (!ok) return undefined;
      const repl = await Promise.all(clients.map((c) => c.info('replication')));
      if (!repl.every((r) => !/role:slave/.test(r) || /master_link_status:up/.test(r))) return undefined;
      // Every node's gossip view must agree with each node's own role, or a client asking one
      // node right away would still see a replica as a primary.
      const replicas = new Set(
        clients
          .map((c, i) => (/role:slave/.test(repl[i]!) ? c.options.port : undefined))
          .filter((p) => p !== undefined),
      );
      const views = await Promise.all(clients.map((c) => c.call('CLUSTER', 'NODES') as Promise<string>));
      const agree = views.every((v) =>
        parseClusterNodes(v).every((line) => line.flags.includes('slave') === replicas.has(line.port)),
      );
      return agree ? true : undefined;
    },
    {
      timeoutMs,
      intervalMs: 100,
      onTimeout: (last) =>
        new RuntimeError(
          'CLUSTER_CREATE_FAILED',
          `cluster_state did not become ok${last ? ` (${(last as Error).message})` : ''}`,
          'see the redis.log files in the state folder; try --fresh',
        ),
    },
  );
}
