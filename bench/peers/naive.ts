/**
 * Peer baseline: a naive per-event consumer-group pipeline, the way users typically write one.
 * ingest -> s1 -> s2 -> out, ONE stream entry per event (fields key, value, ts). Each hop is its own
 * process: XREADGROUP COUNT 1000 BLOCK 1000, then one pipeline per read batch with an XADD to the next
 * stream and an XACK per entry; no transactions, no scripts, no record batches. The producer is its
 * own process too: XADD per event, pipelines of 1000 commands, one pipeline in flight.
 * The clock runs from just before the producer's first XADD until the last hop has written the Nth
 * entry to `out` (both Date.now() of child processes on the same machine).
 */
import { Redis } from 'ioredis';
import { forkChild, type Child } from './child.js';

export interface PeerResult {
  name: string;
  events: number;
  seconds: number;
  eventsPerSecond: number;
}

const STREAMS = ['naive:ingest', 'naive:s1', 'naive:s2', 'naive:out'] as const;
const GROUP = 'naive';

export async function naivePeer(opts: { url: string; events: number }): Promise<PeerResult> {
  const admin = new Redis(opts.url, { maxRetriesPerRequest: 2 });
  admin.on('error', () => {});
  const children: Child[] = [];
  try {
    await admin.del(...STREAMS);
    for (const s of STREAMS.slice(0, 3)) await admin.xgroup('CREATE', s, GROUP, '$', 'MKSTREAM');

    const hops = [0, 1, 2].map((i) => forkChild('./naive-child.js', ['hop', opts.url, STREAMS[i]!, STREAMS[i + 1]!, GROUP, String(opts.events)]));
    children.push(...hops);
    await Promise.all(hops.map((h) => h.next('ready')));
    const producer = forkChild('./naive-child.js', ['produce', opts.url, STREAMS[0], String(opts.events)]);
    children.push(producer);
    await producer.next('ready');
    producer.proc.send({ type: 'go' });
    // Every child's 'done' is awaited, so that one failing anywhere ends the run at once.
    const [start, , ...dones] = await Promise.all([producer.next('start'), producer.next('done'), ...hops.map((c) => c.next('done'))]);
    const done = dones[2]!;
    const seconds = (done.at! - start.at!) / 1000;

    const out = await admin.xlen(STREAMS[3]);
    if (out !== opts.events) throw new Error(`naive peer: ${STREAMS[3]} has ${out} entries, expected ${opts.events}`);
    return { name: 'naive per-event XREADGROUP/XADD+XACK', events: opts.events, seconds, eventsPerSecond: Math.round(opts.events / seconds) };
  } finally {
    await Promise.all(children.map((c) => c.kill()));
    await admin.del(...STREAMS).catch(() => 0);
    admin.disconnect();
  }
}
