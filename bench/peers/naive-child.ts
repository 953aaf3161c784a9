/**
 * Child process of the naive peer (bench/peers/naive.ts), forked with an IPC channel:
 *
 *   naive-child.js hop URL FROM TO GROUP EVENTS   XREADGROUP COUNT 1000 BLOCK from FROM; per read batch
 *                                                 one pipeline of XADD TO + XACK FROM per entry
 *   naive-child.js produce URL STREAM EVENTS      XADD EVENTS entries, pipelines of 1000 commands
 *
 * It sends {type: 'ready'} once connected (the producer then waits for any message to begin),
 * {type: 'start', at} (producer, before its first XADD) and {type: 'done', at} (Date.now() once its
 * last command was answered), then exits. It also exits if the parent goes away.
 */
import { Redis } from 'ioredis';

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

/** Resolves once the message is handed to the IPC channel, so that exiting right after cannot lose it. */
function send(msg: Record<string, unknown>): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send) return resolve();
    process.send(msg, undefined, undefined, () => resolve());
  });
}

async function connect(url: string): Promise<Redis> {
  const redis = new Redis(url, { maxRetriesPerRequest: null, noDelay: true, lazyConnect: true });
  redis.on('error', () => {});
  await redis.connect();
  return redis;
}

async function hop(redis: Redis, from: string, to: string, group: string, events: number): Promise<void> {
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

async function produce(redis: Redis, stream: string, events: number): Promise<void> {
  await send({ type: 'ready' });
  await new Promise<void>((resolve) => process.once('message', () => resolve())); // {type: 'go'}
  const keys = 1000;
  await send({ type: 'start', at: Date.now() });
  for (let i = 0; i < events; i += BATCH) {
    const pipeline = redis.pipeline();
    const end = Math.min(events, i + BATCH);
    for (let n = i; n < end; n++) {
      pipeline.xadd(stream, '*', 'key', `k${n % keys}`, 'value', (Math.random() * 100).toFixed(3), 'ts', String(Date.now()));
    }
    const results = (await pipeline.exec()) ?? [];
    const failed = results.find(([err]) => err);
    if (failed) throw failed[0];
  }
  await send({ type: 'done', at: Date.now() });
}

async function main(): Promise<void> {
  const [role, url, ...rest] = process.argv.slice(2);
  if (!url) throw new Error('usage: naive-child.js hop|produce URL ...');
  process.on('disconnect', () => process.exit(0));
  const redis = await connect(url);
  if (role === 'hop') {
    const [from, to, group, events] = rest;
    await hop(redis, from!, to!, group!, Number(events));
  } else if (role === 'produce') {
    const [stream, events] = rest;
    await produce(redis, stream!, Number(events));
  } else {
    throw new Error(`unknown role ${role}`);
  }
  redis.disconnect();
  process.exit(0);
}

main().catch(async (err) => {
  await send({ type: 'error', message: String((err as Error)?.stack ?? err) });
  process.exit(1);
});
