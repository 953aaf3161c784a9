import type { Snapshot } from './snapshot.js';

/**
 * The problems and warnings of the nodes and the cluster, and the status they give: `down` when
 * nothing answers or the cluster refuses queries, `degraded` with any problem, else `ok`.
 */
export function judgeNodes(report: Snapshot): void {
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

/** The problems and warnings of the stages and workers: a backlog nobody works on, dead workers. */
export function judgePipeline(report: Snapshot): void {
  for (const s of report.stages) {
    if (s.liveWorkers === 0 && (s.lag > 0 || s.pending > 0)) {
      report.problems.push({
        code: 'STAGE_STALLED',
        message: `stage ${s.stage} has ${s.lag} undelivered and ${s.pending} pending entries and no live worker`,
      });
    }
  }
  for (const s of report.stages) {
    if (s.deadLetters)
      report.warnings.push({
        code: 'DEAD_LETTERS',
        stage: s.stage,
        message:
          `stage ${s.stage} has ${s.deadLettersEstimated ? 'about ' : ''}${s.deadLetters} dead-letter records: ` +
          `see \`streamctl dlq list --stage ${s.stage}\``,
      });
    if (s.notDurable)
      report.warnings.push({
        code: 'NOT_DURABLE',
        stage: s.stage,
        message:
          `stage ${s.stage}: commits of ${s.notDurable} events landed on a primary that no replica ` +
          `acknowledged (durable mode): a primary has no replica (see NODES)`,
      });
  }
  for (const w of report.workers)
    if (!w.live)
      report.warnings.push({
        code: 'WORKER_DEAD',
        message: `worker ${w.id} (${w.stage}) last seen ${Math.round(w.lastSeenMs / 1000)}s ago`,
      });
  settleStatus(report);
}

/**
 * For `health --watch`: a stage whose dead letters grew since the previous snapshot is warned
 * `DEAD_LETTERS_GROWING` in place of its `DEAD_LETTERS`, since growth means events fail now, not
 * that some failed once. A stage absent from `previous` has nothing to compare with.
 */
export function judgeDeadLetterGrowth(report: Snapshot, previous: Snapshot): void {
  const before = new Map(previous.stages.map((s) => [s.stage, s.deadLetters ?? 0]));
  for (const s of report.stages) {
    const was = before.get(s.stage);
    const now = s.deadLetters ?? 0;
    if (was === undefined || now <= was) continue;
    const i = report.warnings.findIndex((w) => w.code === 'DEAD_LETTERS' && w.stage === s.stage);
    const warning = {
      code: 'DEAD_LETTERS_GROWING',
      stage: s.stage,
      message:
        `stage ${s.stage} has ${now - was} more dead-letter records since the last refresh ` +
        `(${was} -> ${now}): see \`streamctl dlq list --stage ${s.stage}\``,
    };
    if (i >= 0) report.warnings.splice(i, 1, warning);
    else report.warnings.push(warning);
  }
}

/** An ok status becomes degraded once there is a problem; degraded and down stay. */
export function settleStatus(report: Snapshot): void {
  if (report.status === 'ok' && report.problems.length) report.status = 'degraded';
}

/** Warning codes of a snapshot whose streams or heartbeats could not be read. */
export const UNREAD = { streams: 'STREAMS_UNREADABLE', heartbeats: 'HEARTBEATS_UNREADABLE' } as const;

/**
 * Whether the snapshot read the namespace's streams and heartbeats: a stage with no live worker in
 * it then truly has none. Not when the status is down (nothing was read) or a read failed.
 */
export function pipelineRead(report: Snapshot): boolean {
  const unread: string[] = Object.values(UNREAD);
  return report.status !== 'down' && !report.warnings.some((w) => unread.includes(w.code));
}
