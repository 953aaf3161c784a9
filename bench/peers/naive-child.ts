/**
 * Child process of the naive peer (bench/peers/naive.ts), forked with an IPC channel and the Redis
 * connection spec in its environment (see child.ts):
 *
 *   naive-child.js hop FROM TO GROUP EVENTS                   XREADGROUP COUNT 1000 BLOCK from FROM;
 *                                                             per read batch one pipeline of XADD TO
 *                                                             + XACK FROM per entry
 *   naive-child.js produce STREAM EVENTS KEYS SEED ANOMALY    XADD EVENTS entries (fields key, data:
 *                                                             the metric workload's event JSON),
 *                                                             pipelines of 1000 commands
 *
 * It sends {type: 'ready'} once connected (the producer then waits for any message to begin),
 * {type: 'start', at} (producer, before its first XADD) and {type: 'done', at} (Date.now() once its
 * last command was answered), then exits. It also exits if the parent goes away.
 */
import { metricWorkload } from '../../src/pipeline/metric-workload.js';
import { createRedisFactory, type RedisClient } from '../../src/redis/connection.js';
import { childConnectionSpec, sendToParent as send, workloadFromArgs } from './child.js';

type Fields = string[];
type Entries = [id: string, fields: Fields | null][];

/**
 * The entries of a one-stream XREADGROUP reply: [[stream, entries]] over RESP2, [stream, entries]
 * over RESP3 (ioredis 6's default) with its legacy mapping of the map reply.
 */
function readEntries(reply: unknown): Entries {
  if (!Array.isArray(reply) || reply.length === 0) return [];
  const first: unknown = reply[0];
  return ((Array.isArray(first) ? first[1] : reply[1]) ?? []) as Entries;
}

const BATCH = 1000;

async function hop(redis: RedisClient, from: string, to: string, group: string, events: number): Promise<void> {
  const consumer = `c-${process.pid}`;
  await send({ type: 'ready' });
  let forwarded = 0;
  while (forwarded < events) {
    const entries = readEntries(await redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', BATCH, 'BLOCK', 1000, 'STREAMS', from, '>'));
    if (entries.length === 0) continue;
    const pipeline = redis.pipeline();
    for (const [id, fields] of entries) {
      if (fields) pipeline.xadd(to, '*', ...fields);
      pipeline.xack(from, group, id);
    }
    const results = (await pipeline.exec()) ?? [];
    const failed = results.find(([err]) => err);
    if (failed) throw failed[0];
    forwarded += entries.length;
  }
  await send({ type: 'done', at: Date.now(), forwarded });
}

async function produce(redis: RedisClient, stream: string, args: string[]): Promise<void> {
  const w = workloadFromArgs(args);
  const source = metricWorkload({ keys: w.keys, seed: w.seed, anomalyRate: w.anomalyRate });
  await send({ type: 'ready' });
  await new Promise<void>((resolve) => process.once('message', () => resolve())); // {type: 'go'}
  await send({ type: 'start', at: Date.now() });
  for (let i = 0; i < w.events; i += BATCH) {
    const pipeline = redis.pipeline();
    const end = Math.min(w.events, i + BATCH);
    for (let n = i; n < end; n++) {
      const e = source.next();
      pipeline.xadd(stream, '*', 'key', e.key, 'data', e.data);
    }
    const results = (await pipeline.exec()) ?? [];
    const failed = results.find(([err]) => err);
    if (failed) throw failed[0];
  }
  await send({ type: 'done', at: Date.now() });
}

async function main(): Promise<void> {
  const [role, ...rest] = process.argv.slice(2);
  process.on('disconnect', () => process.exit(0));
  const conn = await createRedisFactory().open(childConnectionSpec());
  // Its own client, as a blocking reader needs one (and as each process of a real deployment has).
  const redis = conn.dedicated();
  if (role === 'hop') {
    const [from, to, group, events] = rest;
    await hop(redis, from!, to!, group!, Number(events));
  } else if (role === 'produce') {
    const [stream, ...workload] = rest;
    await produce(redis, stream!, workload);
  } else {
    throw new Error(`unknown role ${role}: naive-child.js hop|produce ...`);
  }
  await conn.close();
  process.exit(0);
}

main().catch(async (err) => {
  await send({ type: 'error', message: String((err as Error)?.stack ?? err) });
  process.exit(1);
});
