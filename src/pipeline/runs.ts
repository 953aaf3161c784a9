import { randomBytes } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { RuntimeError } from '../errors.js';
import type { Keys } from './keys.js';

/** What a producer appended in one run: the audit's notion of "produced". */
export interface RunRecord {
  id: string;
  kind: 'produce';
  producer: string;
  status: 'running' | 'done' | 'aborted';
  startedAt: number;
  endedAt?: number;
  partitions: number;
  rate: number;
  /** seqs firstSeq..lastSeq were handed out; all acked except `failedRanges`. */
  firstSeq: number;
  lastSeq: number;
  sent: number;
  acked: number;
  errors: number;
  failed: number;
  /** Durable mode: events on a primary that no replica acknowledged in time (within `failed`). */
  notDurable?: number;
  failedRanges: [number, number][];
}

/** A new run id: its start time in base 36 and a random suffix, so ids sort by time and do not collide. */
export function newRunId(): string {
  return `${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}

/** Writes the record and indexes it by start time. */
export async function saveRun(client: Redis | Cluster, keys: Keys, run: RunRecord): Promise<void> {
  await client.set(keys.run(run.id), JSON.stringify(run));
  await client.zadd(keys.runs, run.startedAt, run.id);
}

/**
 * Reads a run by id, or the latest one.
 * @throws RuntimeError NO_RUN when there is none.
 */
export async function loadRun(client: Redis | Cluster, keys: Keys, id: string | undefined): Promise<RunRecord> {
  const runId = id ?? (await client.zrange(keys.runs, '-1', '-1'))[0];
  const json = runId ? await client.get(keys.run(runId)) : null;
  if (!json) {
    throw new RuntimeError(
      'NO_RUN',
      id ? `no run "${id}" in namespace ${keys.ns}` : `no run recorded in namespace ${keys.ns}`,
      id
        ? 'list runs with `streamctl verify --json` or check --namespace'
        : 'produce one with `streamctl produce`, or check --namespace',
    );
  }
  return JSON.parse(json) as RunRecord;
}
