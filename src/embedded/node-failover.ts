import { Redis } from 'ioredis';
import { parseClusterNodes, type ClusterNodeLine } from '../redis/info.js';
import { sleep } from '../wait.js';

function client(host: string, port: number): Redis {
  const c = new Redis({ host, port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  c.on('error', () => {});
  return c;
}

/** The cluster's view from the first of `peers` that answers. */
async function clusterView(host: string, peers: number[]): Promise<ClusterNodeLine[] | undefined> {
  for (const port of peers) {
    const c = client(host, port);
    try {
      await c.connect();
      return parseClusterNodes((await c.call('CLUSTER', 'NODES')) as string);
    } catch {
      // try the next peer
    } finally {
      c.disconnect();
    }
  }
  return undefined;
}

/**
 * How long a dead primary waits for its failover before it starts again anyway: a few node timeouts
 * (the cluster's detection and election) and some slack for a loaded machine.
 */
export function failoverWaitMs(nodeTimeoutMs: number): number {
  return 3 * nodeTimeoutMs + 10_000;
}

/** A primary's healthy replicas in `view`. */
function replicasOf(view: ClusterNodeLine[], primary: ClusterNodeLine): ClusterNodeLine[] {
  return view.filter((n) => n.primaryId === primary.id && !n.flags.some((f) => f === 'fail' || f === 'fail?'));
}

/**
 * Before a dead cluster node restarts: when it was a primary serving slots and has a replica, waits
 * until the cluster has failed it over (its slots moved to the replica), at most `timeoutMs`.
 * Restarting it sooner would bring it back as the primary of its slots with only what its own files
 * hold, and with `--no-persist` that is nothing: its replicas would then copy the empty data set.
 * @returns whether a failover was waited for.
 */
export async function waitForFailover(
  host: string,
  port: number,
  peers: number[],
  timeoutMs: number,
  signal: AbortSignal,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let waited = false;
  while (!signal.aborted && Date.now() < deadline) {
    const view = await clusterView(host, peers);
    const self = view?.find((n) => n.port === port);
    if (!view || !self) return waited;
    const serving = self.flags.includes('master') && self.slots > 0;
    if (!serving || replicasOf(view, self).length === 0) return waited;
    waited = true;
    await sleep(250, signal).catch(() => undefined);
  }
  return waited;
}

/**
 * Before an operator restarts a live cluster primary: hands its slots to one of its replicas with
 * `CLUSTER FAILOVER` (no write is lost, unlike a crash), and waits until the roles have switched.
 * @returns the address of the promoted replica, or undefined when the node is not a primary with a replica.
 */
export async function handOver(host: string, port: number, timeoutMs: number): Promise<string | undefined> {
  const view = await clusterView(host, [port]);
  const self = view?.find((n) => n.port === port);
  if (!view || !self || !self.flags.includes('master') || self.slots === 0) return undefined;
  const replica = replicasOf(view, self)[0];
  if (!replica) return undefined;
  const c = client(replica.host || host, replica.port);
  try {
    await c.connect();
    await c.call('CLUSTER', 'FAILOVER');
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (/role:master/.test(await c.info('replication'))) return `${replica.host || host}:${replica.port}`;
      await sleep(100);
    }
    throw new Error(`replica ${replica.port} did not take over from ${port} within ${timeoutMs} ms`);
  } finally {
    c.disconnect();
  }
}
