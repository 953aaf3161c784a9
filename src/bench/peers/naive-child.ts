/**
 * The roles of the stream peers (naive.ts), each run in a child process (bin/streamctl-peer.ts)
 * forked with an IPC channel and the Redis connection spec in its environment (see child.ts):
 *
 *   streamctl-peer naive hop FROM TO GROUP EVENTS PER_ENTRY MODE
 *                                                             XREADGROUP COUNT 1000 BLOCK from FROM;
 *                                                             per read batch an XADD TO + XACK FROM
 *                                                             per entry, in one pipeline (MODE
 *                                                             pipeline) or one MULTI/EXEC (multi)
 *   streamctl-peer naive produce STREAM PER_ENTRY EVENTS KEYS SEED ANOMALY
 *                                                             XADD entries of PER_ENTRY events (fields
 *                                                             key, data: the metric workload's event
 *                                                             JSON, newline-separated when several),
 *                                                             pipelines of 1000 commands
 *
 * It sends {type: 'ready'} once connected (the producer then waits for any message to begin),
 * {type: 'start', at} (producer, before its first XADD) and {type: 'done', at} (Date.now() once its
 * last command was answered); its process then exits, as it does if the parent goes away.
 */
import { metricWorkload } from '../../workload/metric-workload.js';
import { createRedisFactory, type RedisClient } from '../../redis/connection.js';
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

async function hop(
  redis: RedisClient,
  from: string,
  to: string,
  group: string,
  events: number,
  perEntry: number,
  multi: boolean,
): Promise<void> {
  const consumer = `c-${process.pid}`;
  await send({ type: 'ready' });
  const entriesToForward = Math.ceil(events / perEntry);
  let forwarded = 0;
  while (forwarded < entriesToForward) {
    const entries = readEntries(
      await redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', BATCH, 'BLOCK', 1000, 'STREAMS', from, '>'),
    );
    if (entries.length === 0) continue;
    const pipeline = multi ? redis.multi() : redis.pipeline();
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

async function produce(redis: RedisClient, stream: string, perEntry: number, args: string[]): Promise<void> {
  const w = workloadFromArgs(args);
  const source = metricWorkload({ keys: w.keys, seed: w.seed, anomalyRate: w.anomalyRate });
  await send({ type: 'ready' });
  await new Promise<void>((resolve) => process.once('message', () => resolve())); // {type: 'go'}
  await send({ type: 'start', at: Date.now() });
  for (let i = 0; i < w.events; i += BATCH * perEntry) {
    const pipeline = redis.pipeline();
    const end = Math.min(w.events, i + BATCH * perEntry);
    for (let n = i; n < end; n += perEntry) {
      if (perEntry === 1) {
        const e = source.next();
        pipeline.xadd(stream, '*', 'key', e.key, 'data', e.data);
        continue;
      }
      const batch = Array.from({ length: Math.min(perEntry, end - n) }, () => source.next());
      pipeline.xadd(stream, '*', 'n', batch.length, 'data', batch.map((e) => e.data).join('\n'));
    }
    const results = (await pipeline.exec()) ?? [];
    const failed = results.find(([err]) => err);
    if (failed) throw failed[0];
  }
  await send({ type: 'done', at: Date.now() });
}

/** Runs one role of the stream peers, as `bin/streamctl-peer.ts naive ROLE ...` asks. */
export async function runNaiveChild(args: string[]): Promise<void> {
  const [role, ...rest] = args;
  const conn = await createRedisFactory().open(childConnectionSpec());
  // Its own client, as a blocking reader needs one (and as each process of a real deployment has).
  const redis = conn.dedicated();
  if (role === 'hop') {
    const [from, to, group, events, perEntry, mode] = rest;
    await hop(redis, from!, to!, group!, Number(events), Number(perEntry), mode === 'multi');
  } else if (role === 'produce') {
    const [stream, perEntry, ...workload] = rest;
    await produce(redis, stream!, Number(perEntry), workload);
  } else {
    throw new Error(`unknown role ${role}: streamctl-peer naive hop|produce ...`);
  }
  await conn.close();
}
