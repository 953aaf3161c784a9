/**
 * Peer baselines on plain consumer groups: ingest -> s1 -> s2 -> out, each hop its own process:
 * XREADGROUP COUNT 1000 BLOCK 1000, then per read batch an XADD to the next stream and an XACK per
 * entry; no scripts, no state, no stage work. The producer is its own process too: XADD per entry,
 * pipelines of 1000 commands, one pipeline in flight. The clock runs from just before the
 * producer's first XADD until the last hop has written the last entry to `out` (both Date.now() of
 * child processes on the same machine).
 * - The naive peer, the way users typically write one: ONE entry per event (fields key and data,
 *   the event's JSON), each read batch's commands in one pipeline.
 * - The record-batch peer, the reference design of DESIGN.md "Performance" (the figure the
 *   throughput goal came from): 100 events per entry, each read batch's commands in one MULTI. It
 *   is what the runtime's transport alone can do on this machine today, with none of streamctl's
 *   guarantees (no lease fencing, no state, no idempotent producer) and no stage work.
 */
import { deleteNamespace } from '../../pipeline/topology.js';
import { abortable, forkChild, workloadArgs, type Child } from './child.js';
import type { PeerOptions, PeerResult } from './peer.js';

export const NAIVE_PEER = 'naive per-event XREADGROUP/XADD+XACK';
export const RECORD_BATCH_PEER = 'record batches, 100 events/entry, MULTI';

/**
 * Runs the naive peer on `conn`'s Redis. Its keys are `<prefix>:naive:*`; `prefix` must hold a hash
 * tag, so that in a cluster a hop's pipeline (XADD to one stream, XACK on another) stays in one slot.
 * The keys are deleted afterwards, also when the run fails.
 */
export function naivePeer(opts: PeerOptions): Promise<PeerResult> {
  return streamPeer(opts, { name: NAIVE_PEER, key: 'naive', perEntry: 1, mode: 'pipeline' });
}

/** Runs the record-batch peer, as `naivePeer` does, under `<prefix>:batches:*`. */
export function recordBatchPeer(opts: PeerOptions): Promise<PeerResult> {
  return streamPeer(opts, { name: RECORD_BATCH_PEER, key: 'batches', perEntry: 100, mode: 'multi' });
}

async function streamPeer(
  opts: PeerOptions,
  shape: { name: string; key: string; perEntry: number; mode: 'pipeline' | 'multi' },
): Promise<PeerResult> {
  const { conn, workload } = opts;
  const group = shape.key;
  const ns = `${opts.prefix}:${shape.key}`;
  const streams = ['ingest', 's1', 's2', 'out'].map((s) => `${ns}:${s}`);
  const admin = conn.client();
  const children: Child[] = [];
  try {
    for (const s of streams.slice(0, 3)) await admin.xgroup('CREATE', s, group, '$', 'MKSTREAM');

    const hops = [0, 1, 2].map((i) =>
      forkChild(
        'naive',
        ['hop', streams[i]!, streams[i + 1]!, group, String(workload.events), String(shape.perEntry), shape.mode],
        conn.spec,
      ),
    );
    children.push(...hops);
    await abortable(Promise.all(hops.map((h) => h.next('ready'))), opts.signal);
    const producer = forkChild(
      'naive',
      ['produce', streams[0]!, String(shape.perEntry), ...workloadArgs(workload)],
      conn.spec,
    );
    children.push(producer);
    await abortable(producer.next('ready'), opts.signal);
    producer.proc.send({ type: 'go' });
    // Every child's 'done' is awaited, so that one failing anywhere ends the run at once.
    const [start, , ...dones] = await abortable(
      Promise.all([producer.next('start'), producer.next('done'), ...hops.map((c) => c.next('done'))]),
      opts.signal,
    );
    const done = dones[2]!;
    const seconds = (done.at! - start.at!) / 1000;

    const out = await admin.xlen(streams[3]!);
    const entries = Math.ceil(workload.events / shape.perEntry);
    if (out !== entries) throw new Error(`${shape.name} peer: ${streams[3]} has ${out} entries, expected ${entries}`);
    return {
      name: shape.name,
      events: workload.events,
      seconds,
      eventsPerSecond: Math.round(workload.events / seconds),
    };
  } finally {
    await Promise.all(children.map((c) => c.kill()));
    await deleteNamespace(admin, ns).catch(() => 0);
  }
}
