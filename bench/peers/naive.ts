/**
 * Peer baseline: a naive per-event consumer-group pipeline, the way users typically write one.
 * ingest -> s1 -> s2 -> out, ONE stream entry per event (fields key and data, the event's JSON). Each
 * hop is its own process: XREADGROUP COUNT 1000 BLOCK 1000, then one pipeline per read batch with an
 * XADD to the next stream and an XACK per entry; no transactions, no scripts, no record batches. The
 * producer is its own process too: XADD per event, pipelines of 1000 commands, one pipeline in flight.
 * The clock runs from just before the producer's first XADD until the last hop has written the Nth
 * entry to `out` (both Date.now() of child processes on the same machine).
 */
import type { RedisConnection } from '../../src/redis/connection.js';
import { deleteNamespace } from '../../src/pipeline/topology.js';
import { abortable, forkChild, workloadArgs, type Child, type PeerWorkload } from './child.js';

export interface PeerResult {
  name: string;
  events: number;
  seconds: number;
  eventsPerSecond: number;
}

export const NAIVE_PEER = 'naive per-event XREADGROUP/XADD+XACK';
const GROUP = 'naive';

/**
 * Runs the naive peer on `conn`'s Redis. Its keys are `<prefix>:naive:*`; `prefix` must hold a hash
 * tag, so that in a cluster a hop's pipeline (XADD to one stream, XACK on another) stays in one slot.
 * The keys are deleted afterwards, also when the run fails.
 */
export async function naivePeer(opts: { conn: RedisConnection; prefix: string; workload: PeerWorkload; signal?: AbortSignal }): Promise<PeerResult> {
  const { conn, workload } = opts;
  const ns = `${opts.prefix}:naive`;
  const streams = ['ingest', 's1', 's2', 'out'].map((s) => `${ns}:${s}`);
  const admin = conn.client();
  const children: Child[] = [];
  try {
    for (const s of streams.slice(0, 3)) await admin.xgroup('CREATE', s, GROUP, '$', 'MKSTREAM');

    const hops = [0, 1, 2].map((i) => forkChild('./naive-child.js', ['hop', streams[i]!, streams[i + 1]!, GROUP, String(workload.events)], conn.spec));
    children.push(...hops);
    await abortable(Promise.all(hops.map((h) => h.next('ready'))), opts.signal);
    const producer = forkChild('./naive-child.js', ['produce', streams[0]!, ...workloadArgs(workload)], conn.spec);
    children.push(producer);
    await abortable(producer.next('ready'), opts.signal);
    producer.proc.send({ type: 'go' });
    // Every child's 'done' is awaited, so that one failing anywhere ends the run at once.
    const [start, , ...dones] = await abortable(Promise.all([producer.next('start'), producer.next('done'), ...hops.map((c) => c.next('done'))]), opts.signal);
    const done = dones[2]!;
    const seconds = (done.at! - start.at!) / 1000;

    const out = await admin.xlen(streams[3]!);
    if (out !== workload.events) throw new Error(`naive peer: ${streams[3]} has ${out} entries, expected ${workload.events}`);
    return { name: NAIVE_PEER, events: workload.events, seconds, eventsPerSecond: Math.round(workload.events / seconds) };
  } finally {
    await Promise.all(children.map((c) => c.kill()));
    await deleteNamespace(admin, ns).catch(() => 0);
  }
}
