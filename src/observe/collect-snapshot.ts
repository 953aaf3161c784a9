import { hostname } from 'node:os';
import { namespaceKeys } from '../pipeline/keys.js';
import { isPidAlive } from '../pid.js';
import { isLive, type Heartbeat } from '../pipeline/worker/heartbeats.js';
import type { RedisConnection } from '../redis/connection.js';
import { slotOf } from '../redis/slots.js';
import { judgeNodes, judgePipeline, UNREAD } from './judge.js';
import { mergeDeployment } from './merge-deployment.js';
import { probeNodes, reason, type NodeProbe, type NodesView } from './probe-nodes.js';
import { readNamespace, type NamespaceRead } from './read-namespace.js';
import type { DeploymentStatus, GroupHealth, Snapshot, StageHealth, WorkerHealth } from './snapshot.js';

/**
 * Workers from their heartbeats; a worker that is not live shows no owned partitions and no rate. A
 * worker of this host whose process is gone is not live, though its last heartbeat is still fresh
 * (killed a moment ago: its restarted slot would otherwise count twice).
 */
function workerRows(heartbeats: Heartbeat[], now: number): WorkerHealth[] {
  const here = hostname();
  return heartbeats
    .map((h) => {
      const live = isLive(h, now) && (h.host !== here || isPidAlive(h.pid));
      return {
        id: h.id,
        stage: h.stage,
        pid: h.pid,
        host: h.host,
        live,
        lastSeenMs: now - h.ts,
        owned: live ? h.owned.length : 0,
        received: h.received,
        rate: live ? h.rate : 0,
        ...(h.metricsPort ? { metricsPort: h.metricsPort } : {}),
        ...(h.notDurable ? { notDurable: h.notDurable } : {}),
      };
    })
    .sort((a, b) => a.stage.localeCompare(b.stage) || a.id.localeCompare(b.id));
}

/** Per stage (consumer group): live workers, lag and pending over every partition, and dead letters. */
function stageRows(
  groups: GroupHealth[],
  workers: WorkerHealth[],
  deadLetters: NamespaceRead['deadLetters'],
): StageHealth[] {
  const stages = new Map<string, StageHealth>();
  const stageOf = (name: string) => {
    const s = stages.get(name) ?? { stage: name, liveWorkers: 0, lag: 0, pending: 0, deadLetters: 0 };
    stages.set(name, s);
    return s;
  };
  for (const g of groups) {
    const s = stageOf(g.group);
    s.lag += g.lag ?? 0;
    s.pending += g.pending;
  }
  for (const w of workers) {
    if (!w.live) continue;
    const s = stageOf(w.stage);
    s.liveWorkers += 1;
    if (w.notDurable) s.notDurable = (s.notDurable ?? 0) + w.notDurable;
  }
  for (const [name, d] of deadLetters) {
    const s = stageOf(name);
    s.deadLetters = d.count;
    if (d.estimated) s.deadLettersEstimated = true;
  }
  return [...stages.values()];
}

/** The primary that serves the namespace's heartbeat hash, among those that answered. */
function heartbeatHolder(view: NodesView, primaries: NodeProbe[], mode: Snapshot['mode'], ns: string) {
  if (mode === 'standalone') return primaries[0];
  const slot = slotOf(namespaceKeys.workers(ns));
  return primaries.find((p) => (view.ranges.get(p.address) ?? []).some(([a, b]) => slot >= a && slot <= b));
}

/**
 * Reads the health of the deployment behind `conn`: every node, the cluster's own view, slot
 * coverage, the streams, consumer groups, stages and workers of `namespace` and, given the embedded
 * deployment's status, what its supervisor knows (see `mergeDeployment`). Unreachable nodes are
 * reported as down rather than thrown.
 *
 * Each step asks every node at once, all of a node's commands in one pipeline: the nodes' INFO and
 * settings with the cluster view and the first page of SCAN, then every stream with its groups
 * and consumers (XINFO STREAM FULL) and the heartbeats. The round trips do not grow with the
 * number of streams: on a loaded machine each one waits for a busy CPU.
 */
export async function collectSnapshot(
  conn: RedisConnection,
  namespace: string,
  opts: { deployment?: DeploymentStatus | undefined } = {},
): Promise<Snapshot> {
  const checkedAt = new Date().toISOString();
  const view = await probeNodes(conn, namespace);
  const report: Snapshot = {
    status: 'ok',
    mode: conn.mode,
    target: conn.urls,
    checkedAt,
    nodes: view.nodes.sort((a, b) =>
      a.role === b.role ? a.address.localeCompare(b.address, 'en', { numeric: true }) : a.role === 'primary' ? -1 : 1,
    ),
    cluster: view.cluster,
    slots: view.slots,
    failing: view.failing,
    problems: view.problems,
    warnings: [],
    namespace,
    streams: [],
    groups: [],
    workers: [],
    stages: [],
  };
  judgeNodes(report);
  if (report.status !== 'down') {
    const primaries = report.nodes
      .filter((n) => n.role === 'primary' && n.up && (report.mode === 'standalone' || (n.slots ?? 0) > 0))
      .map((n) => view.probes.get(n.address))
      .filter((p): p is NodeProbe => p !== undefined);
    const holder = heartbeatHolder(view, primaries, report.mode, namespace);
    try {
      const read = await readNamespace(primaries, namespace, holder);
      report.streams = read.streams;
      report.groups = read.groups;
      if (read.heartbeats) report.workers = workerRows(read.heartbeats, Date.now());
      else
        report.warnings.push({
          code: UNREAD.heartbeats,
          message: `could not read the worker heartbeats of ${namespace}: no node that answered serves their slot`,
        });
      report.stages = stageRows(report.groups, report.workers, read.deadLetters);
    } catch (err) {
      report.warnings.push({
        code: UNREAD.streams,
        message: `could not read the streams of ${namespace}: ${reason(err)}`,
      });
    }
    judgePipeline(report);
  }
  return opts.deployment ? mergeDeployment(report, opts.deployment) : report;
}
