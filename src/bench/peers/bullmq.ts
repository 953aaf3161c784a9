/**
 * Peer baseline: a BullMQ 3-queue chain, q1 -> worker 1 adds the job's data to q2 -> worker 2 adds
 * it to q3 -> worker 3 completes it. Each worker (concurrency 100) and the producer (addBulk in
 * chunks of 1000) is its own process, like the naive peer and streamctl's own benchmark, so that the
 * work spreads over the cores as it would in a deployment. Jobs are removed on completion.
 * The clock runs from just before the producer's first addBulk until worker 3 has seen its Nth
 * 'completed' event.
 */
import { deleteNamespace } from '../../pipeline/topology.js';
import { abortable, forkChild, workloadArgs, type Child } from './child.js';
import type { PeerOptions, PeerResult } from './peer.js';

export const BULLMQ_PEER = 'BullMQ 3-queue chain';

/**
 * Why the BullMQ peer cannot run here, or undefined when it can. bullmq is an optional dependency
 * of streamctl (an install with --omit=optional, or one where it failed, lacks it), imported only by
 * the child process beside this module, so it is resolved from here.
 */
export function bullmqMissing(): string | undefined {
  try {
    import.meta.resolve('bullmq');
    return undefined;
  } catch {
    return 'the bullmq package is not installed (an optional dependency of streamctl): `npm install bullmq` where streamctl is installed to compare with it';
  }
}

/**
 * Runs the BullMQ chain on `conn`'s Redis with `workload.events` jobs. Its keys are
 * `<prefix>:bullmq:*`; `prefix` must hold a hash tag, as BullMQ needs in a cluster. The keys are
 * deleted afterwards, also when the run fails.
 */
export async function bullmqPeer(opts: PeerOptions): Promise<PeerResult> {
  const { conn, workload } = opts;
  const prefix = `${opts.prefix}:bullmq`;
  const jobs = String(workload.events);
  const children: Child[] = [];
  try {
    const workers = [1, 2, 3].map((i) => forkChild('bullmq', ['worker', prefix, String(i), jobs], conn.spec));
    children.push(...workers);
    await abortable(Promise.all(workers.map((w) => w.next('ready'))), opts.signal);
    const producer = forkChild('bullmq', ['produce', prefix, ...workloadArgs(workload)], conn.spec);
    children.push(producer);
    await abortable(producer.next('ready'), opts.signal);
    producer.proc.send({ type: 'go' });
    // Every child's 'done' is awaited, so that one failing anywhere ends the run at once.
    const [start, , ...dones] = await abortable(
      Promise.all([producer.next('start'), producer.next('done'), ...workers.map((c) => c.next('done'))]),
      opts.signal,
    );
    const done = dones[2]!;
    const seconds = (done.at! - start.at!) / 1000;
    return {
      name: BULLMQ_PEER,
      events: workload.events,
      seconds,
      eventsPerSecond: Math.round(workload.events / seconds),
    };
  } finally {
    await Promise.all(children.map((c) => c.kill()));
    await deleteNamespace(conn.client(), prefix).catch(() => 0);
  }
}
