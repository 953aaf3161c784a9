/**
 * Peer baseline: a BullMQ 3-queue chain, q1 -> worker 1 adds the job's data to q2 -> worker 2 adds
 * it to q3 -> worker 3 completes it. Each worker (concurrency 100) and the producer (addBulk in
 * chunks of 1000) is its own process, like the naive peer and streamctl's own benchmark, so that the
 * work spreads over the cores as it would in a deployment. Jobs are removed on completion.
 * The clock runs from just before the producer's first addBulk until worker 3 has seen its Nth
 * 'completed' event.
 */
import { Redis } from 'ioredis';
import { forkChild, type Child } from './child.js';
import type { PeerResult } from './naive.js';

async function deleteKeys(admin: Redis, pattern: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await admin.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await admin.unlink(...keys);
  } while (cursor !== '0');
}

export async function bullmqPeer(opts: { url: string; jobs: number }): Promise<PeerResult> {
  const prefix = `peer-bull-${process.pid}-${Date.now()}`;
  const admin = new Redis(opts.url, { maxRetriesPerRequest: 2 });
  admin.on('error', () => {});
  const children: Child[] = [];
  try {
    const workers = [1, 2, 3].map((i) => forkChild('./bullmq-child.js', ['worker', opts.url, prefix, String(i), String(opts.jobs)]));
    children.push(...workers);
    await Promise.all(workers.map((w) => w.next('ready')));
    const producer = forkChild('./bullmq-child.js', ['produce', opts.url, prefix, String(opts.jobs)]);
    children.push(producer);
    await producer.next('ready');
    producer.proc.send({ type: 'go' });
    // Every child's 'done' is awaited, so that one failing anywhere ends the run at once.
    const [start, , ...dones] = await Promise.all([producer.next('start'), producer.next('done'), ...workers.map((c) => c.next('done'))]);
    const done = dones[2]!;
    const seconds = (done.at! - start.at!) / 1000;
    return { name: 'BullMQ 3-queue chain', events: opts.jobs, seconds, eventsPerSecond: Math.round(opts.jobs / seconds) };
  } finally {
    await Promise.all(children.map((c) => c.kill()));
    await deleteKeys(admin, `${prefix}:*`).catch(() => undefined);
    admin.disconnect();
  }
}
