import { nftCgroup, nodeCgroup } from '../../embedded/cgroups.js';
import { UsageError } from '../../errors.js';
import { parseClusterNodes, parseInfo } from '../../redis/info.js';
import type { ChaosEnv } from '../chaos-env.js';
import type { FaultAction } from '../fault-action.js';
import type { NodeTarget } from '../fault.js';
import {
  createTable,
  removeTable,
  requireNft,
  socketIn,
  tableCounters,
  tableName,
  type NftChain,
} from '../kernel/nft.js';
import { settled } from '../settled.js';

/** Packet marks of the partition's two sides, set on the way out and read on the way in. */
const MARK_ISOLATED = '0x5c7a0001';
const MARK_REST = '0x5c7a0002';

/**
 * The rules that cut one node off from the deployment's other nodes, both ways: its cluster bus
 * and its replication links. On loopback every packet goes out and comes back in on the same
 * machine: on the way out, the sending socket's cgroup marks the packet with its side; on the way
 * in, a packet from one side to a socket of the other is dropped. Clients are left alone: they still
 * reach both sides, as an application does when the network between Redis nodes fails.
 */
export function partitionChains(env: ChaosEnv, port: number): NftChain[] {
  const cg = env.deployment?.cgroups;
  if (!cg)
    throw new UsageError(
      'NO_CGROUPS',
      "this deployment's nodes do not run in cgroups of their own: a partition cannot tell one node's packets from another's",
      'restart the deployment as root with cgroup v2 (`streamctl down`, `streamctl up`); `streamctl chaos doctor` says what is missing',
    );
  const isolated = socketIn(nftCgroup(cg, nodeCgroup(port)));
  const nodes = socketIn(nftCgroup(cg, 'nodes'));
  return [
    {
      name: 'out',
      hook: 'output',
      rules: [
        `${isolated} meta mark set ${MARK_ISOLATED}`,
        `meta mark != ${MARK_ISOLATED} ${nodes} meta mark set ${MARK_REST}`,
      ],
    },
    {
      name: 'in',
      hook: 'input',
      rules: [
        `meta mark ${MARK_ISOLATED} ${isolated} accept`,
        `meta mark ${MARK_ISOLATED} ${nodes} counter drop comment "fault"`,
        `meta mark ${MARK_REST} ${isolated} counter drop comment "fault"`,
      ],
    },
  ];
}

/** The flags of `address` in the CLUSTER NODES view of the node at `from`. */
async function flagsSeenBy(env: ChaosEnv, from: NodeTarget['address'], address: string): Promise<string[]> {
  const [host, port] = from.split(':');
  const nodes = parseClusterNodes(
    String(await (await env.connection()).node(host!, Number(port)).call('CLUSTER', 'NODES')),
  );
  return nodes.find((n) => `${n.host}:${n.port}` === address)?.flags ?? [];
}

/** What the healed node is now: a primary whose replica took over comes back as a replica. */
async function rejoined(env: ChaosEnv, t: NodeTarget): Promise<string> {
  const info = parseInfo(await (await env.connection()).node(t.host, t.port).info('replication'));
  if (info.role === 'master') return `${t.address} rejoined as a primary`;
  return `${t.address} rejoined as a replica of ${info.master_host}:${info.master_port}`;
}

/**
 * A network partition: one node cut off from the others (nftables, root, nodes in cgroups). It is
 * seen only once Redis's own failure detection saw it: the other nodes flag the node failed (FAIL,
 * agreed by a majority of primaries), which takes the cluster's node timeout. The revert deletes
 * the table and waits until the cluster agrees again (an isolated primary whose replica took over
 * comes back as a replica).
 */
export const partition: FaultAction = {
  kind: 'partition',
  summary: "cut a node off from the cluster's other nodes, both ways (bus and replication; nftables, root)",
  target: 'node',
  external: false,
  lasting: true,
  // FAIL needs the node timeout to pass, then a majority of primaries to agree by gossip.
  checkMs: (env) => 2 * (env.deployment?.nodeTimeoutMs ?? 5000) + 10_000,
  async apply(env, f) {
    await requireNft('partition');
    const t = f.target as NodeTarget;
    if (env.deployment?.mode !== 'cluster')
      throw new UsageError('NOT_CLUSTER', 'chaos partition needs a Redis Cluster', 'start one with `streamctl up`');
    await createTable(tableName(f.id), partitionChains(env, t.port));
    return `nftables table inet ${tableName(f.id)}: ${t.address} cut off from the other nodes (its clients still reach it)`;
  },
  async check(env, f) {
    const t = f.target as NodeTarget;
    const c = await tableCounters(tableName(f.id));
    if (!c?.fault?.packets) return undefined;
    const others = (env.deployment?.nodes ?? []).filter((n) => n.port !== t.port).map((n) => `${t.host}:${n.port}`);
    for (const o of others) {
      const flags = await flagsSeenBy(env, o, t.address).catch((): string[] => []);
      if (flags.includes('fail'))
        return `${o} flags ${t.address} failed (agreed by a majority); ${c.fault.packets} packet(s) dropped`;
    }
    return undefined;
  },
  async revert(env, f) {
    const t = f.target as NodeTarget;
    const how = await removeTable(tableName(f.id));
    if (!env.deployment) return how;
    const agreed = await settled(env);
    return `${how}; ${agreed}; ${await rejoined(env, t)}`;
  },
};
