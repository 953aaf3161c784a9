import type { Redis } from 'ioredis';
import { SLOT_COUNT } from '../redis/slots.js';
import { connectClient, type RedisConnection } from '../redis/connection.js';
import { address } from '../redis/endpoint.js';
import { infoNumber, pairs, parseClusterNodes, parseInfo, type ClusterNodeLine } from '../redis/info.js';
import { isLive, readHeartbeats } from '../pipeline/worker/heartbeats.js';
import type { GroupHealth, Snapshot, NodeHealth, StageHealth, StreamHealth } from './snapshot.js';

/** Streams beyond this many are not listed (a namespace of a real pipeline has a few hundred). */
const MAX_STREAMS = 2000;

interface Probe {
  host: string;
  port: number;
  up: boolean;
  error?: string;
  info: Record<string, string>;
  rdb?: boolean;
  client?: Redis;
}

function reason(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e?.code === 'ECONNREFUSED') return 'connection refused';
  if (e?.code === 'ETIMEDOUT' || /timed? ?out/i.test(e?.message ?? '')) return 'timed out';
  return e?.message ?? String(err);
}

/** Connects to one node and reads INFO; a node that does not answer is reported, not thrown. */
async function probe(conn: RedisConnection, host: string, port: number): Promise<Probe> {
  const client = conn.node(host, port);
  try {
    await connectClient(client);
    const info = parseInfo(await client.info('all'));
    // CONFIG may be forbidden by an ACL or a managed service: then RDB is simply unknown.
    const save = await (client.call('CONFIG', 'GET', 'save') as Promise<unknown>).then(
      (r) => pairs(r).save,
      () => undefined,
    );
    return { host, port, up: true, info, client, ...(save === undefined ? {} : { rdb: String(save).trim() !== '' }) };
  } catch (err) {
    client.disconnect();
    return { host, port, up: false, error: reason(err), info: {} };
  }
}

function nodeFromProbe(p: Probe, role: 'primary' | 'replica', extra: Partial<NodeHealth> = {}): NodeHealth {
  const i = p.info;
  const n: NodeHealth = { id: null, address: address(p), role, up: p.up, flags: [], ...extra };
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

async function firstView(
  conn: RedisConnection,
): Promise<{ nodes: ClusterNodeLine[]; info: Record<string, string> } | { error: string }> {
  let error = 'no seed answered';
  for (const e of conn.spec.endpoints) {
    const client = conn.node(e.host, e.port);
    try {
      await connectClient(client);
      const [nodesText, infoText] = await Promise.all([
        client.call('CLUSTER', 'NODES') as Promise<string>,
        client.call('CLUSTER', 'INFO') as Promise<string>,
      ]);
      return { nodes: parseClusterNodes(nodesText), info: parseInfo(infoText) };
    } catch (err) {
      client.disconnect();
      error = `${address(e)}: ${reason(err)}`;
    }
  }
  return { error };
}

async function collectNodes(conn: RedisConnection, report: Snapshot, probes: Map<string, Probe>): Promise<void> {
  if (conn.mode === 'standalone') {
    const seed = conn.spec.endpoints[0]!;
    const p = await probe(conn, seed.host, seed.port);
    probes.set(address(p), p);
    const role = p.info.role === 'slave' ? 'replica' : 'primary';
    const primaryAddress =
      role === 'replica' ? address({ host: p.info.master_host ?? '?', port: Number(p.info.master_port) }) : undefined;
    report.nodes.push(nodeFromProbe(p, role, primaryAddress ? { primaryAddress } : {}));
    // A standalone primary lists its replicas; report them as the primary sees them.
    const offset = infoNumber(p.info, 'master_repl_offset') ?? 0;
    for (const [k, v] of Object.entries(p.info)) {
      if (!/^slave\d+$/.test(k)) continue;
      const f = Object.fromEntries(v.split(',').map((kv) => kv.split('=') as [string, string]));
      const online = f.state === 'online';
      report.nodes.push({
        id: null,
        address: address({ host: f.ip ?? '?', port: Number(f.port) }),
        role: 'replica',
        up: online,
        ...(online ? {} : { error: `replication state ${f.state}` }),
        flags: [],
        primaryAddress: address(seed),
        linkStatus: online ? 'up' : 'down',
        replOffset: Number(f.offset),
        lagBytes: Math.max(0, offset - Number(f.offset)),
      });
    }
    return;
  }

  const view = await firstView(conn);
  if ('error' in view) {
    report.problems.push({ code: 'NO_NODE', message: `no cluster node answered (${view.error})` });
    report.nodes.push(
      ...conn.spec.endpoints.map((e) => ({
        id: null,
        address: address(e),
        role: 'primary' as const,
        up: false,
        error: 'unreachable',
        flags: [],
      })),
    );
    return;
  }
  const ci = view.info;
  report.cluster = {
    state: ci.cluster_state ?? 'unknown',
    knownNodes: infoNumber(ci, 'cluster_known_nodes') ?? view.nodes.length,
    size: infoNumber(ci, 'cluster_size') ?? 0,
    currentEpoch: infoNumber(ci, 'cluster_current_epoch') ?? 0,
  };
  report.slots = {
    expected: SLOT_COUNT,
    assigned: infoNumber(ci, 'cluster_slots_assigned') ?? 0,
    covered: infoNumber(ci, 'cluster_slots_ok') ?? 0,
    pfail: infoNumber(ci, 'cluster_slots_pfail') ?? 0,
    fail: infoNumber(ci, 'cluster_slots_fail') ?? 0,
  };
  const byId = new Map(view.nodes.map((n) => [n.id, n]));
  const nodeProbes = await Promise.all(view.nodes.map((n) => probe(conn, n.host, n.port)));
  view.nodes.forEach((line, i) => {
    const p = nodeProbes[i]!;
    probes.set(address(p), p);
    const primary = line.primaryId ? byId.get(line.primaryId) : undefined;
    const role = line.flags.includes('slave') ? 'replica' : 'primary';
    report.nodes.push(
      nodeFromProbe(p, role, {
        id: line.id,
        flags: line.flags,
        slots: line.slots,
        ...(line.primaryId ? { primaryId: line.primaryId } : {}),
        ...(primary ? { primaryAddress: address(primary) } : {}),
      }),
    );
    if (line.flags.some((f) => f === 'fail' || f === 'fail?'))
      report.failing.push({ id: line.id, address: address(line), flags: line.flags });
  });
  // Lag of a replica: its primary's replication offset minus its own.
  const offsets = new Map(report.nodes.filter((n) => n.role === 'primary' && n.up).map((n) => [n.id, n.replOffset]));
  for (const n of report.nodes) {
    const primaryOffset = n.primaryId ? offsets.get(n.primaryId) : undefined;
    if (n.role === 'replica' && n.up && primaryOffset !== undefined && n.replOffset !== undefined)
      n.lagBytes = Math.max(0, primaryOffset - n.replOffset);
  }
}

function judge(report: Snapshot): void {
  for (const n of report.nodes) {
    if (!n.up)
      report.problems.push({
        code: 'NODE_DOWN',
        node: n.address,
        message: `${n.role} ${n.address} is down (${n.error ?? 'unreachable'})`,
      });
    else if (n.flags.includes('fail') || n.flags.includes('fail?'))
      report.problems.push({
        code: 'NODE_FAILING',
        node: n.address,
        message: `${n.address} is flagged ${n.flags.join(',')} by the cluster`,
      });
    if (n.up && n.role === 'replica' && n.linkStatus === 'down')
      report.problems.push({
        code: 'REPLICA_LINK_DOWN',
        node: n.address,
        message: `replica ${n.address} has lost its link to the primary`,
      });
    if (!n.up) continue;
    if (n.role === 'primary' && n.aof === false && n.rdb === false) {
      report.warnings.push({
        code: 'NO_PERSISTENCE',
        node: n.address,
        message: `primary ${n.address} has neither AOF nor RDB snapshots: a restart loses its data`,
      });
    }
    if (n.maxmemory && n.maxmemoryPolicy && n.maxmemoryPolicy !== 'noeviction') {
      report.warnings.push({
        code: 'EVICTION_POLICY',
        node: n.address,
        message: `${n.address} evicts keys (maxmemory-policy ${n.maxmemoryPolicy}): streams can lose entries; use noeviction`,
      });
    }
    if (n.evictedKeys)
      report.warnings.push({
        code: 'EVICTED_KEYS',
        node: n.address,
        message: `${n.address} has evicted ${n.evictedKeys} keys`,
      });
    if (n.maxmemory && n.usedMemory !== undefined && n.usedMemory > 0.9 * n.maxmemory) {
      report.warnings.push({
        code: 'MEMORY_HIGH',
        node: n.address,
        message: `${n.address} uses ${Math.round((100 * n.usedMemory) / n.maxmemory)}% of maxmemory`,
      });
    }
  }
  if (report.mode === 'cluster' && report.cluster) {
    const servingPrimaries = report.nodes.filter((n) => n.role === 'primary' && (n.slots ?? 0) > 0);
    for (const p of servingPrimaries) {
      if (!report.nodes.some((r) => r.role === 'replica' && r.primaryId === p.id && r.up)) {
        report.warnings.push({
          code: 'NO_REPLICA',
          node: p.address,
          message: `primary ${p.address} has no live replica: it cannot fail over`,
        });
      }
    }
    if (report.cluster.state !== 'ok')
      report.problems.push({ code: 'CLUSTER_STATE', message: `cluster_state is ${report.cluster.state}` });
    if (report.slots && report.slots.covered < report.slots.expected) {
      report.problems.push({
        code: 'SLOTS_UNCOVERED',
        message: `${report.slots.expected - report.slots.covered} of ${report.slots.expected} slots are not served`,
      });
    }
  }
  const anyUp = report.nodes.some((n) => n.up);
  const clusterDown = report.mode === 'cluster' && report.cluster?.state !== 'ok';
  report.status = !anyUp || clusterDown ? 'down' : report.problems.length > 0 ? 'degraded' : 'ok';
}

async function scanStreams(client: Redis, pattern: string, limit: number): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000, 'TYPE', 'stream');
    keys.push(...batch);
    cursor = next;
  } while (cursor !== '0' && keys.length < limit);
  return keys;
}

async function collectStreams(report: Snapshot, probes: Map<string, Probe>): Promise<void> {
  const primaries = report.nodes.filter(
    (n) => n.role === 'primary' && n.up && (report.mode === 'standalone' || (n.slots ?? 0) > 0),
  );
  for (const node of primaries) {
    const client = probes.get(node.address)?.client;
    if (!client) continue;
    const keys = (await scanStreams(client, `${report.namespace}:*`, MAX_STREAMS - report.streams.length)).sort();
    for (const key of keys) {
      const info = pairs(await client.call('XINFO', 'STREAM', key));
      const groups = ((await client.call('XINFO', 'GROUPS', key)) as unknown[]).map(pairs);
      report.streams.push({
        key,
        node: node.address,
        length: Number(info.length ?? 0),
        lastId: (info['last-generated-id'] as string) ?? null,
        groups: groups.length,
      });
      for (const g of groups) {
        const name = String(g.name);
        const [consumers, oldest] = await Promise.all([
          client.call('XINFO', 'CONSUMERS', key, name) as Promise<unknown[]>,
          client.call('XPENDING', key, name, '-', '+', '1') as Promise<[string, string, number, number][]>,
        ]);
        const group: GroupHealth = {
          stream: key,
          group: name,
          lag: g.lag === null || g.lag === undefined ? null : Number(g.lag),
          pending: Number(g.pending ?? 0),
          lastDeliveredId: String(g['last-delivered-id'] ?? ''),
          oldestPendingIdleMs: oldest[0] ? Number(oldest[0][2]) : null,
          consumers: consumers
            .map(pairs)
            .map((c) => ({ name: String(c.name), pending: Number(c.pending ?? 0), idleMs: Number(c.idle ?? 0) })),
        };
        report.groups.push(group);
      }
    }
  }
  report.streams.sort((a, b) => a.key.localeCompare(b.key));
}

/** Workers from their heartbeats, and per stage (consumer group) the live workers, lag and pending. */
async function collectWorkers(conn: RedisConnection, report: Snapshot): Promise<void> {
  const now = Date.now();
  for (const h of await readHeartbeats(conn.client(), report.namespace)) {
    report.workers.push({
      id: h.id,
      stage: h.stage,
      pid: h.pid,
      host: h.host,
      live: isLive(h, now),
      lastSeenMs: now - h.ts,
      owned: h.owned.length,
      received: h.received,
      rate: h.rate,
      ...(h.metricsPort ? { metricsPort: h.metricsPort } : {}),
    });
  }
  report.workers.sort((a, b) => a.stage.localeCompare(b.stage) || a.id.localeCompare(b.id));
  const stages = new Map<string, StageHealth>();
  for (const g of report.groups) {
    const s = stages.get(g.group) ?? { stage: g.group, liveWorkers: 0, lag: 0, pending: 0 };
    s.lag += g.lag ?? 0;
    s.pending += g.pending;
    stages.set(g.group, s);
  }
  for (const w of report.workers) {
    const s = stages.get(w.stage) ?? { stage: w.stage, liveWorkers: 0, lag: 0, pending: 0 };
    if (w.live) s.liveWorkers++;
    stages.set(w.stage, s);
  }
  report.stages = [...stages.values()];
  for (const s of report.stages) {
    if (s.liveWorkers === 0 && (s.lag > 0 || s.pending > 0)) {
      report.problems.push({
        code: 'STAGE_STALLED',
        message: `stage ${s.stage} has ${s.lag} undelivered and ${s.pending} pending entries and no live worker`,
      });
    }
  }
  for (const w of report.workers)
    if (!w.live)
      report.warnings.push({
        code: 'WORKER_DEAD',
        message: `worker ${w.id} (${w.stage}) last seen ${Math.round(w.lastSeenMs / 1000)}s ago`,
      });
  if (report.status === 'ok' && report.problems.length) report.status = 'degraded';
}

/**
 * Reads the health of the deployment behind `conn`: every node, the cluster's own view, slot
 * coverage, and the streams and consumer groups of `namespace`. Unreachable nodes are reported
 * as down rather than thrown.
 */
export async function collectSnapshot(conn: RedisConnection, namespace: string): Promise<Snapshot> {
  const report: Snapshot = {
    status: 'ok',
    mode: conn.mode,
    target: conn.urls,
    checkedAt: new Date().toISOString(),
    nodes: [],
    cluster: null,
    slots: null,
    failing: [],
    problems: [],
    warnings: [],
    namespace,
    streams: [] as StreamHealth[],
    groups: [],
    workers: [],
    stages: [],
  };
  const probes = new Map<string, Probe>();
  await collectNodes(conn, report, probes);
  report.nodes.sort((a, b) =>
    a.role === b.role ? a.address.localeCompare(b.address, 'en', { numeric: true }) : a.role === 'primary' ? -1 : 1,
  );
  judge(report);
  if (report.status !== 'down') {
    try {
      await collectStreams(report, probes);
      await collectWorkers(conn, report);
    } catch (err) {
      report.warnings.push({
        code: 'STREAMS_UNREADABLE',
        message: `could not read the streams of ${namespace}: ${reason(err)}`,
      });
    }
  }
  return report;
}
