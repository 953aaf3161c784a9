import type { Redis } from 'ioredis';
import { connectClient, type RedisConnection } from '../redis/connection.js';
import { address } from '../redis/endpoint.js';
import { infoNumber, pairs, parseClusterNodes, parseInfo, type ClusterNodeLine } from '../redis/info.js';
import { SLOT_COUNT } from '../redis/slots.js';
import type { Finding, NodeHealth, Snapshot } from './snapshot.js';

/**
 * The INFO sections the snapshot reads. `INFO all` would add commandstats and latencystats, most of
 * its size on a busy node, for nothing shown.
 */
const INFO_SECTIONS = ['server', 'clients', 'memory', 'persistence', 'stats', 'replication'];

/** Keys one SCAN call looks at: a namespace's streams in one call on all but large keyspaces. */
export const SCAN_COUNT = 10_000;

/** What one node answered to the first round, or why it did not answer. */
export interface NodeProbe {
  host: string;
  port: number;
  address: string;
  up: boolean;
  error?: string;
  info: Record<string, string>;
  rdb?: boolean;
  client?: Redis;
  /** The cluster as this node sees it (CLUSTER NODES and CLUSTER INFO), when asked and answered. */
  view?: { nodes: ClusterNodeLine[]; info: Record<string, string> };
  /** The first SCAN page of the namespace's streams: the cursor to go on from, and the keys. */
  scan?: [cursor: string, keys: string[]];
}

/** A failure in the words health prints. */
export function reason(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e?.code === 'ECONNREFUSED') return 'connection refused';
  if (e?.code === 'ETIMEDOUT' || /timed? ?out/i.test(e?.message ?? '')) return 'timed out';
  return e?.message ?? String(err);
}

type Reply = [Error | null, unknown];

/**
 * Connects to one node and asks everything of the first round in one pipeline: INFO, CONFIG GET
 * save, the first SCAN page of `pattern` and, with `view`, CLUSTER NODES and CLUSTER INFO. The scan
 * rides along because a node's role is known only from these replies: a replica's page is simply
 * not used, and a serving primary's saves the round trip of asking for it next.
 * A node that does not answer is reported, not thrown.
 */
async function probeNode(
  conn: RedisConnection,
  host: string,
  port: number,
  ask: { view: boolean; pattern: string },
): Promise<NodeProbe> {
  const client = conn.node(host, port);
  const base = { host, port, address: address({ host, port }) };
  try {
    await connectClient(client);
    const p = client.pipeline();
    p.call('INFO', ...INFO_SECTIONS);
    p.call('CONFIG', 'GET', 'save');
    p.scan('0', 'MATCH', ask.pattern, 'COUNT', SCAN_COUNT, 'TYPE', 'stream');
    if (ask.view) p.call('CLUSTER', 'NODES').call('CLUSTER', 'INFO');
    const [info, save, scan, nodes, clusterInfo] = ((await p.exec()) ?? []) as Reply[];
    // A server older than 7.0 takes one INFO section only: the default sections then.
    const infoText = info && !info[0] ? String(info[1]) : await client.info();
    const probe: NodeProbe = { ...base, up: true, info: parseInfo(infoText), client };
    // CONFIG may be forbidden by an ACL or a managed service: then RDB is simply unknown.
    if (save && !save[0]) probe.rdb = String(pairs(save[1]).save ?? '').trim() !== '';
    if (scan && !scan[0]) probe.scan = scan[1] as [string, string[]];
    if (nodes && !nodes[0] && clusterInfo && !clusterInfo[0])
      probe.view = { nodes: parseClusterNodes(String(nodes[1])), info: parseInfo(String(clusterInfo[1])) };
    return probe;
  } catch (err) {
    client.disconnect();
    return { ...base, up: false, error: reason(err), info: {} };
  }
}

function nodeFromProbe(p: NodeProbe, role: 'primary' | 'replica', extra: Partial<NodeHealth> = {}): NodeHealth {
  const i = p.info;
  const n: NodeHealth = { id: null, address: p.address, role, up: p.up, flags: [], ...extra };
  if (!p.up) return { ...n, error: p.error ?? 'unreachable' };
  const set = <K extends keyof NodeHealth>(k: K, v: NodeHealth[K] | undefined) => {
    if (v !== undefined) n[k] = v;
  };
  set('usedMemory', infoNumber(i, 'used_memory'));
  set('maxmemory', infoNumber(i, 'maxmemory'));
  set('maxmemoryPolicy', i.maxmemory_policy);
  set('connectedClients', infoNumber(i, 'connected_clients'));
  set('evictedKeys', infoNumber(i, 'evicted_keys'));
  set('aof', i.aof_enabled === undefined ? undefined : i.aof_enabled === '1');
  set('rdb', p.rdb);
  set('version', i.redis_version);
  set('replOffset', infoNumber(i, role === 'primary' ? 'master_repl_offset' : 'slave_repl_offset'));
  if (role === 'replica') set('linkStatus', i.master_link_status === 'up' ? 'up' : 'down');
  return n;
}

/** The nodes of a snapshot and what the first round learnt of them. */
export type NodesView = Pick<Snapshot, 'nodes' | 'cluster' | 'slots' | 'failing'> & {
  problems: Finding[];
  /** Every node that answered, by address, with its client for the next rounds. */
  probes: Map<string, NodeProbe>;
  /** Cluster: the slot ranges each node serves, by address. */
  ranges: Map<string, [number, number][]>;
};

function standaloneNodes(p: NodeProbe, seed: string): NodeHealth[] {
  const role = p.info.role === 'slave' ? 'replica' : 'primary';
  const primaryAddress =
    role === 'replica' ? address({ host: p.info.master_host ?? '?', port: Number(p.info.master_port) }) : undefined;
  const nodes = [nodeFromProbe(p, role, primaryAddress ? { primaryAddress } : {})];
  // A standalone primary lists its replicas; report them as the primary sees them.
  const offset = infoNumber(p.info, 'master_repl_offset') ?? 0;
  for (const [k, v] of Object.entries(p.info)) {
    if (!/^slave\d+$/.test(k)) continue;
    const f = Object.fromEntries(v.split(',').map((kv) => kv.split('=') as [string, string]));
    const online = f.state === 'online';
    nodes.push({
      id: null,
      address: address({ host: f.ip ?? '?', port: Number(f.port) }),
      role: 'replica',
      up: online,
      ...(online ? {} : { error: `replication state ${f.state}` }),
      flags: [],
      primaryAddress: seed,
      linkStatus: online ? 'up' : 'down',
      replOffset: Number(f.offset),
      lagBytes: Math.max(0, offset - Number(f.offset)),
    });
  }
  return nodes;
}

/**
 * The first round: every node's INFO and settings, and in a cluster the view of the first seed that
 * answers. The seeds are asked all at once; in a cluster, nodes the view names that are not seeds
 * are asked next, all at once too.
 */
export async function probeNodes(conn: RedisConnection, namespace: string): Promise<NodesView> {
  const out: NodesView = {
    nodes: [],
    cluster: null,
    slots: null,
    failing: [],
    problems: [],
    probes: new Map(),
    ranges: new Map(),
  };
  const pattern = `${namespace}:*`;
  const cluster = conn.mode === 'cluster';
  const endpoints = cluster ? conn.spec.endpoints : conn.spec.endpoints.slice(0, 1);
  const seeds = await Promise.all(endpoints.map((e) => probeNode(conn, e.host, e.port, { view: cluster, pattern })));
  for (const p of seeds) if (p.up) out.probes.set(p.address, p);

  if (!cluster) {
    const seed = seeds[0]!;
    out.nodes.push(...standaloneNodes(seed, seed.address));
    return out;
  }

  const viewFrom = seeds.find((p) => p.view);
  if (!viewFrom?.view) {
    const last = seeds[seeds.length - 1];
    const why = seeds.some((p) => p.up) ? 'CLUSTER NODES unanswered' : `${last?.address}: ${last?.error}`;
    out.problems.push({ code: 'NO_NODE', message: `no cluster node answered (${why})` });
    out.nodes.push(
      ...seeds.map((p) => ({
        id: null,
        address: p.address,
        role: 'primary' as const,
        up: false,
        error: p.error ?? 'unreachable',
        flags: [],
      })),
    );
    return out;
  }
  const { nodes: lines, info: ci } = viewFrom.view;
  out.cluster = {
    state: ci.cluster_state ?? 'unknown',
    knownNodes: infoNumber(ci, 'cluster_known_nodes') ?? lines.length,
    size: infoNumber(ci, 'cluster_size') ?? 0,
    currentEpoch: infoNumber(ci, 'cluster_current_epoch') ?? 0,
  };
  out.slots = {
    expected: SLOT_COUNT,
    assigned: infoNumber(ci, 'cluster_slots_assigned') ?? 0,
    covered: infoNumber(ci, 'cluster_slots_ok') ?? 0,
    pfail: infoNumber(ci, 'cluster_slots_pfail') ?? 0,
    fail: infoNumber(ci, 'cluster_slots_fail') ?? 0,
  };
  const bySeed = new Map(seeds.map((p) => [p.address, p]));
  const probes = await Promise.all(
    lines.map((n) => bySeed.get(address(n)) ?? probeNode(conn, n.host, n.port, { view: false, pattern })),
  );
  const byId = new Map(lines.map((n) => [n.id, n]));
  lines.forEach((line, i) => {
    const p = probes[i]!;
    if (p.up) out.probes.set(p.address, p);
    out.ranges.set(p.address, line.ranges);
    const primary = line.primaryId ? byId.get(line.primaryId) : undefined;
    const role = line.flags.includes('slave') ? 'replica' : 'primary';
    out.nodes.push(
      nodeFromProbe(p, role, {
        id: line.id,
        flags: line.flags,
        slots: line.slots,
        ...(line.primaryId ? { primaryId: line.primaryId } : {}),
        ...(primary ? { primaryAddress: address(primary) } : {}),
      }),
    );
    if (line.flags.some((f) => f === 'fail' || f === 'fail?'))
      out.failing.push({ id: line.id, address: address(line), flags: line.flags });
  });
  // Lag of a replica: its primary's replication offset minus its own.
  const offsets = new Map(out.nodes.filter((n) => n.role === 'primary' && n.up).map((n) => [n.id, n.replOffset]));
  for (const n of out.nodes) {
    const primaryOffset = n.primaryId ? offsets.get(n.primaryId) : undefined;
    if (n.role === 'replica' && n.up && primaryOffset !== undefined && n.replOffset !== undefined)
      n.lagBytes = Math.max(0, primaryOffset - n.replOffset);
  }
  return out;
}
