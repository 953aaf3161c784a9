import type { Cluster, Redis } from 'ioredis';
import { pairs } from '../redis/info.js';
import { groupLag } from './group-lag.js';
import type { Topology } from './topology.js';
import { startProgress, type ProgressOutput } from '../progress.js';
import { sleep } from '../wait.js';

export interface StagePending {
  stage: string;
  /** Entries delivered to the stage and not yet committed. */
  pending: number;
  /** Entries not yet delivered to the stage. */
  lag: number;
}

/** One consumer group's XINFO GROUPS fields; undefined when the stream or the group does not exist. */
export async function consumerGroup(
  client: Redis | Cluster,
  key: string,
  group: string,
): Promise<Record<string, unknown> | undefined> {
  let reply: unknown;
  try {
    reply = await client.call('XINFO', 'GROUPS', key);
  } catch (err) {
    if (/no such key/i.test((err as Error).message)) return undefined;
    throw err;
  }
  return (reply as unknown[]).map(pairs).find((x) => String(x.name) === group);
}

/** XINFO STREAM's fields; undefined when the stream does not exist. */
async function streamInfo(client: Redis | Cluster, key: string): Promise<Record<string, unknown> | undefined> {
  try {
    return pairs(await client.call('XINFO', 'STREAM', key));
  } catch (err) {
    if (/no such key/i.test((err as Error).message)) return undefined;
    throw err;
  }
}

/** Pending and undelivered entries of one consumer group on one stream. A missing stream has none. */
async function groupBacklog(
  client: Redis | Cluster,
  key: string,
  group: string,
): Promise<{ pending: number; lag: number }> {
  const [g, stream] = await Promise.all([consumerGroup(client, key, group), streamInfo(client, key)]);
  if (!g || !stream) return { pending: 0, lag: 0 };
  const pending = Number(g.pending ?? 0);
  const lastEntry = stream['last-entry'] as [string, unknown] | null | undefined;
  const lag = await groupLag(client, key, {
    lag: g.lag === null || g.lag === undefined ? null : Number(g.lag),
    lastDeliveredId: String(g['last-delivered-id']),
    lastId: lastEntry ? String(lastEntry[0]) : ((stream['last-generated-id'] as string | undefined) ?? null),
    length: Number(stream.length ?? 0),
  });
  return { pending, lag };
}

/** One stage's backlog summed over all partitions. */
export async function stageBacklog(client: Redis | Cluster, topology: Topology, stage: string): Promise<StagePending> {
  const s = topology.stages.find((x) => x.name === stage);
  if (!s) throw new Error(`no stage "${stage}" in the topology`);
  const parts = await Promise.all(
    Array.from({ length: topology.partitions }, (_, k) =>
      groupBacklog(client, topology.keys.stream(k, s.input), s.name),
    ),
  );
  return { stage, pending: parts.reduce((a, p) => a + p.pending, 0), lag: parts.reduce((a, p) => a + p.lag, 0) };
}

/** Every stage's backlog, in pipeline order. */
export function stagePending(client: Redis | Cluster, topology: Topology): Promise<StagePending[]> {
  return Promise.all(topology.stages.map((s) => stageBacklog(client, topology, s.name)));
}

/** Whether every stage has nothing undelivered and nothing pending. */
export function isDrained(pending: StagePending[]): boolean {
  return pending.every((p) => p.pending === 0 && p.lag === 0);
}

/**
 * Waits until the pipeline is drained and `ready()` (e.g. the run being audited has ended), or
 * `timeoutMs` passes, or `signal` aborts. Given `progress` (a command's stderr), it reports the
 * backlog while it waits (see `startProgress`).
 * @returns whether it drained.
 */
export async function waitDrained(
  client: Redis | Cluster,
  topology: Topology,
  o: {
    timeoutMs: number;
    intervalMs: number;
    signal: AbortSignal;
    ready?: () => Promise<boolean>;
    progress?: ProgressOutput;
  },
): Promise<boolean> {
  const t0 = Date.now();
  const deadline = t0 + o.timeoutMs;
  let last: { backlog: StagePending[]; running: boolean } | undefined;
  const progress = o.progress
    ? startProgress(o.progress, { line: () => drainLine(last, Date.now() - t0, o.timeoutMs) })
    : undefined;
  try {
    for (;;) {
      const backlog = await stagePending(client, topology);
      const ready = isDrained(backlog) ? (o.ready ? await o.ready() : true) : undefined;
      last = { backlog, running: ready === false };
      if (ready) return true;
      if (Date.now() >= deadline || o.signal.aborted) return false;
      await sleep(o.intervalMs, o.signal);
    }
  } finally {
    progress?.stop();
  }
}

/** The plain progress line of a wait for the drain. */
function drainLine(last: { backlog: StagePending[]; running: boolean } | undefined, ms: number, timeoutMs: number) {
  const waited = `${Math.round(ms / 1000)}s of ${Math.round(timeoutMs / 1000)}s`;
  if (!last) return `waiting for the drain: ${waited}`;
  const stages = last.backlog.map(
    (s) => `${s.stage} lag ${s.lag.toLocaleString('en')} pending ${s.pending.toLocaleString('en')}`,
  );
  return `waiting for the drain: ${[...stages, ...(last.running ? ['the run has not ended'] : [])].join(', ')}; ${waited}`;
}
