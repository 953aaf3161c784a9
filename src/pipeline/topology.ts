import type { Cluster, Redis } from 'ioredis';
import { RuntimeError, UsageError } from '../errors.js';
import { Keys, namespaceKeys } from './keys.js';

/** A stage as the runtime sees it: which stream it reads and which it writes. */
export interface StageStreams {
  name: string;
  input: string;
  output: string;
}

/** The namespace's layout, agreed by every process through `<ns>:meta`. */
export interface Topology {
  keys: Keys;
  partitions: number;
  stages: StageStreams[];
}

/**
 * Partitions of a new namespace when none is asked for. On a Redis Cluster 16, which spread evenly
 * over the primaries. On a single Redis partitions add no parallelism in Redis, only smaller
 * pieces: every partition is its own append, read and commit, so at a given rate more partitions
 * mean more, smaller Redis calls, and a longer latency at the same highest rate. There 4 (up to 4
 * workers per stage; docs/PERFORMANCE.md compares 2 to 16).
 */
export const DEFAULT_PARTITIONS = { single: 4, cluster: 16 } as const;

/** The default partition count for a new namespace on this client's Redis. */
function defaultPartitions(client: Redis | Cluster): number {
  return (client as Cluster).isCluster ? DEFAULT_PARTITIONS.cluster : DEFAULT_PARTITIONS.single;
}
export const INGEST = 'ingest';
export const OUT = 'out';

/** Input and output stream names: `ingest` -> stage 1 -> ... -> `out`; a stage may name its output. */
function stageStreams(stages: { name: string; output?: string | undefined }[]): StageStreams[] {
  return stages.map((s, i) => ({
    name: s.name,
    input: i === 0 ? INGEST : (stages[i - 1]!.output ?? stages[i - 1]!.name),
    output: s.output ?? (i === stages.length - 1 ? OUT : s.name),
  }));
}

/** Deletes every key of the namespace on every primary (SCAN, then UNLINK in batches). */
export async function deleteNamespace(client: Redis | Cluster, ns: string): Promise<number> {
  const nodes =
    'nodes' in client && typeof client.nodes === 'function' && (client as Cluster).isCluster
      ? (client as Cluster).nodes('master')
      : [client as Redis];
  let deleted = 0;
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', `${ns}:*`, 'COUNT', 1000);
      cursor = next;
      // One key per call: keys of different slots cannot share a command in a cluster.
      if (keys.length) deleted += (await Promise.all(keys.map((k) => node.unlink(k)))).reduce((a, b) => a + b, 0);
    } while (cursor !== '0');
  }
  return deleted;
}

/**
 * The topology of a namespace that exists, for readers: its keys and partitions, without creating
 * consumer groups (no stages). `where` names the Redis in the error.
 * @throws RuntimeError NO_NAMESPACE when nothing recorded the namespace.
 */
export async function existingTopology(client: Redis | Cluster, ns: string, where: string): Promise<Topology> {
  const partitions = await recordedPartitions(client, ns);
  if (partitions === undefined) {
    throw new RuntimeError(
      'NO_NAMESPACE',
      `namespace "${ns}" does not exist on ${where}`,
      'check --namespace (and --redis), or start the pipeline with `streamctl up`',
    );
  }
  return { keys: new Keys(ns, partitions), partitions, stages: [] };
}

/**
 * Reads the partition count recorded for the namespace, if any.
 */
async function recordedPartitions(client: Redis | Cluster, ns: string): Promise<number | undefined> {
  const p = await client.hget(namespaceKeys.meta(ns), 'partitions');
  return p ? Number(p) : undefined;
}

/**
 * Makes sure the namespace exists with `partitions` partitions and that every stage's consumer
 * group exists on every partition. A different recorded partition count is a config error unless
 * `reset` deletes the namespace first.
 * @param partitions undefined: whatever is recorded, else the default.
 */
export async function ensureTopology(
  client: Redis | Cluster,
  ns: string,
  stages: { name: string; output?: string | undefined }[],
  opts: { partitions?: number | undefined; reset?: boolean | undefined } = {},
): Promise<Topology> {
  if (opts.reset) await deleteNamespace(client, ns);
  const recorded = await recordedPartitions(client, ns);
  if (recorded !== undefined && opts.partitions !== undefined && recorded !== opts.partitions) {
    throw new UsageError(
      'PARTITIONS_MISMATCH',
      `namespace "${ns}" has ${recorded} partitions, not ${opts.partitions}`,
      `drop --partitions (or use ${recorded}), use another --namespace, or add --reset to delete the namespace`,
    );
  }
  const partitions = recorded ?? opts.partitions ?? defaultPartitions(client);
  const keys = new Keys(ns, partitions);
  if (recorded === undefined) {
    // HSETNX: of two processes creating the namespace at once, the first one's count wins.
    await client.hsetnx(keys.meta, 'partitions', String(partitions));
    await client.hsetnx(keys.meta, 'createdAt', new Date().toISOString());
    const won = Number(await client.hget(keys.meta, 'partitions'));
    if (won !== partitions) return ensureTopology(client, ns, stages, { partitions: won });
  }
  const streams = stageStreams(stages);
  await Promise.all(
    streams.flatMap((s) =>
      Array.from({ length: partitions }, (_, k) =>
        client.xgroup('CREATE', keys.stream(k, s.input), s.name, '0', 'MKSTREAM').catch((err: Error) => {
          if (!/BUSYGROUP/.test(err.message)) throw err;
        }),
      ),
    ),
  );
  return { keys, partitions, stages: streams };
}
