/**
 * Child process of the BullMQ peer (bench/peers/bullmq.ts), forked with an IPC channel:
 *
 *   bullmq-child.js worker URL PREFIX INDEX JOBS   Worker on queue q<INDEX>, concurrency 100; INDEX 1
 *                                                  and 2 add each job's data to q<INDEX+1>, 3 just
 *                                                  completes it ("done")
 *   bullmq-child.js produce URL PREFIX JOBS        addBulk of JOBS jobs to q1 in chunks of 1000
 *
 * Messages as in naive-child.ts: 'ready', 'start' (producer), 'done' with Date.now() when the
 * worker has seen JOBS 'completed' events (or the producer's last addBulk was answered).
 */
import { Queue, Worker, type ConnectionOptions, type JobsOptions } from 'bullmq';

const CONCURRENCY = 100;
const CHUNK = 1000;
/** Completed and failed jobs are deleted, as a long-running pipeline would configure them. */
const JOB_OPTIONS: JobsOptions = { removeOnComplete: true, removeOnFail: true };

interface EventData {
  key: string;
  value: number;
  ts: number;
}

function send(msg: Record<string, unknown>): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send) return resolve();
    process.send(msg, undefined, undefined, () => resolve());
  });
}

function connection(url: string): ConnectionOptions {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port || 6379), maxRetriesPerRequest: null };
}

function queueName(index: number): string {
  return `q${index}`;
}

async function worker(url: string, prefix: string, index: number, jobs: number): Promise<void> {
  const next = index < 3 ? new Queue<EventData>(queueName(index + 1), { connection: connection(url), prefix }) : undefined;
  let completed = 0;
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const w = new Worker<EventData>(
    queueName(index),
    async (job) => {
      if (next) await next.add('e', job.data, JOB_OPTIONS);
      return 'done';
    },
    { connection: connection(url), prefix, concurrency: CONCURRENCY },
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

async function produce(url: string, prefix: string, jobs: number): Promise<void> {
  const q1 = new Queue<EventData>(queueName(1), { connection: connection(url), prefix });
  await q1.waitUntilReady();
  await send({ type: 'ready' });
  await new Promise<void>((resolve) => process.once('message', () => resolve())); // {type: 'go'}
  const keys = 1000;
  await send({ type: 'start', at: Date.now() });
  for (let i = 0; i < jobs; i += CHUNK) {
    const bulk: { name: string; data: EventData; opts: JobsOptions }[] = [];
    for (let n = i; n < Math.min(jobs, i + CHUNK); n++) {
      bulk.push({ name: 'e', data: { key: `k${n % keys}`, value: Math.random() * 100, ts: Date.now() }, opts: JOB_OPTIONS });
    }
    await q1.addBulk(bulk);
  }
  await send({ type: 'done', at: Date.now() });
  await q1.close();
}

async function main(): Promise<void> {
  const [role, url, prefix, ...rest] = process.argv.slice(2);
  if (!url || !prefix) throw new Error('usage: bullmq-child.js worker|produce URL PREFIX ...');
  process.on('disconnect', () => process.exit(0));
  if (role === 'worker') await worker(url, prefix, Number(rest[0]), Number(rest[1]));
  else if (role === 'produce') await produce(url, prefix, Number(rest[0]));
  else throw new Error(`unknown role ${role}`);
  process.exit(0);
}

main().catch(async (err) => {
  await send({ type: 'error', message: String((err as Error)?.stack ?? err) });
  process.exit(1);
});
