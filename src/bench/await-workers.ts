import type { Cluster, Redis } from 'ioredis';
import { RuntimeError } from '../errors.js';
import { liveHeartbeats } from '../pipeline/worker/heartbeats.js';
import { waitFor } from '../wait.js';

/** How long bench waits for a live worker of every stage (workers just started take a second or two). */
export const WORKER_WAIT_MS = 10_000;

/**
 * Waits until every stage has a live worker: a load that nothing processes measures nothing, and
 * its audit would count every event as lost.
 * @throws RuntimeError NO_WORKERS naming the stages without one.
 */
export async function awaitWorkers(
  client: Redis | Cluster,
  ns: string,
  stages: string[],
  say: (m: string) => void,
  signal: AbortSignal,
): Promise<void> {
  const missing = async () => {
    const live = new Set((await liveHeartbeats(client, ns)).map((h) => h.stage));
    return stages.filter((s) => !live.has(s));
  };
  let idle = await missing();
  if (idle.length === 0) return;
  say(`waiting up to ${WORKER_WAIT_MS / 1000}s for a live worker of stage ${idle.join(', ')}...`);
  await waitFor(async () => ((idle = await missing()).length === 0 ? true : undefined), {
    timeoutMs: WORKER_WAIT_MS,
    intervalMs: 250,
    signal,
    onTimeout: () =>
      new RuntimeError(
        'NO_WORKERS',
        `no live worker for stage ${idle.join(', ')} in namespace "${ns}": nothing would process the load`,
        'start the pipeline (`streamctl up`, or `streamctl worker --stage NAME` per stage) on the same ' +
          '--redis and --namespace, then run bench again',
      ),
  });
}
