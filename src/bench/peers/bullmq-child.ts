/**
 * The roles of the BullMQ peer (bullmq.ts), each run in a child process (bin/streamctl-peer.ts)
 * forked with an IPC channel and the Redis connection spec in its environment (see child.ts):
 *
 *   streamctl-peer bullmq worker PREFIX INDEX JOBS          Worker on queue q<INDEX>, concurrency 100;
 *                                                           INDEX 1 and 2 add each job's data to
 *                                                           q<INDEX+1>, 3 just completes it ("done")
 *   streamctl-peer bullmq produce PREFIX JOBS KEYS SEED ANOMALY   addBulk of JOBS jobs (data {key, data:
 *                                                           the metric workload's event JSON}) to q1
 *                                                           in chunks of 1000
 *
 * Messages as in naive-child.ts: 'ready', 'start' (producer), 'done' with Date.now() when the
 * worker has seen JOBS 'completed' events (or the producer's last addBulk was answered).
 */
import { Queue, Worker, type JobsOptions } from 'bullmq';
import { Cluster, Redis } from 'ioredis';
import { metricWorkload } from '../../workload/metric-workload.js';
import { createRedisFactory, redisOptions, type ConnectionSpec, type RedisClient } from '../../redis/connection.js';
import { childConnectionSpec, sendToParent as send, workloadFromArgs } from './child.js';

const CONCURRENCY = 100;
const CHUNK = 1000;
/** Completed and failed jobs are deleted, as a long-running pipeline would configure them. */
const JOB_OPTIONS: JobsOptions = { removeOnComplete: true, removeOnFail: true };

interface EventData {
  key: string;
  data: string;
}

/**
 * A new ioredis client for BullMQ, with streamctl's credentials and TLS. Not streamctl's own client:
 * BullMQ requires maxRetriesPerRequest null and blocks for longer than streamctl's command timeout.
 * In a cluster every key of the run shares the prefix's hash tag, as BullMQ requires.
 */
function bullClient(spec: ConnectionSpec, mode: 'cluster' | 'standalone'): RedisClient {
  const { commandTimeout: _t, host: _h, port: _p, ...node } = redisOptions(spec, spec.endpoints[0]!);
  const client =
    mode === 'cluster'
      ? new Cluster(
          spec.endpoints.map((e) => ({ host: e.host, port: e.port })),
          { redisOptions: { ...node, maxRetriesPerRequest: null } },
        )
      : new Redis({
          ...node,
          host: spec.endpoints[0]!.host,
          port: spec.endpoints[0]!.port,
          maxRetriesPerRequest: null,
        });
  // Errors surface through BullMQ's own events; an 'error' event with no listener would crash.
  client.on('error', () => {});
  return client;
}

function queueName(index: number): string {
  return `q${index}`;
}

async function worker(client: () => RedisClient, prefix: string, index: number, jobs: number): Promise<void> {
  const next = index < 3 ? new Queue<EventData>(queueName(index + 1), { connection: client(), prefix }) : undefined;
  let completed = 0;
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const w = new Worker<EventData>(
    queueName(index),
    async (job) => {
      if (next) await next.add('e', job.data, JOB_OPTIONS);
      return 'done';
    },
    { connection: client(), prefix, concurrency: CONCURRENCY },
  );
  w.on('error', (err) => void send({ type: 'error', message: String(err?.stack ?? err) }));
  w.on('failed', (_job, err) => void send({ type: 'error', message: `job failed: ${String(err?.stack ?? err)}` }));
  w.on('completed', () => {
    if (++completed === jobs) finish();
  });
  await w.waitUntilReady();
  await next?.waitUntilReady();
  await send({ type: 'ready' });
  await finished;
  await send({ type: 'done', at: Date.now() });
  await w.close();
  await next?.close();
}

async function produce(client: () => RedisClient, prefix: string, args: string[]): Promise<void> {
  const w = workloadFromArgs(args);
  const source = metricWorkload({ keys: w.keys, seed: w.seed, anomalyRate: w.anomalyRate });
  const q1 = new Queue<EventData>(queueName(1), { connection: client(), prefix });
  await q1.waitUntilReady();
  await send({ type: 'ready' });
  await new Promise<void>((resolve) => process.once('message', () => resolve())); // {type: 'go'}
  await send({ type: 'start', at: Date.now() });
  for (let i = 0; i < w.events; i += CHUNK) {
    const bulk: { name: string; data: EventData; opts: JobsOptions }[] = [];
    for (let n = i; n < Math.min(w.events, i + CHUNK); n++) {
      const e = source.next();
      bulk.push({ name: 'e', data: { key: e.key, data: e.data.toString() }, opts: JOB_OPTIONS });
    }
    await q1.addBulk(bulk);
  }
  await send({ type: 'done', at: Date.now() });
  await q1.close();
}

/** Runs one role of the BullMQ peer, as `bin/streamctl-peer.ts bullmq ROLE ...` asks. */
export async function runBullmqChild(args: string[]): Promise<void> {
  const [role, prefix, ...rest] = args;
  if (!prefix) throw new Error('usage: bullmq worker|produce PREFIX ...');
  const spec = childConnectionSpec();
  // The mode is asked of the server, as every streamctl command does.
  const probe = await createRedisFactory().open(spec);
  const mode = probe.mode;
  await probe.close();
  const client = () => bullClient(spec, mode);
  if (role === 'worker') await worker(client, prefix, Number(rest[0]), Number(rest[1]));
  else if (role === 'produce') await produce(client, prefix, rest);
  else throw new Error(`unknown role ${role}`);
}
