import type { Cluster, Redis } from 'ioredis';
import { decodeBatch, decodeEntry, type StreamEvent } from './codec.js';
import { pairs } from '../redis/info.js';
import { isDrained, stagePending, type StagePending } from './backlog.js';
import type { RunRecord } from './runs.js';
import { OUT, type Topology } from './topology.js';
import { liveHeartbeats } from './worker/heartbeats.js';
import { traceParentOf } from './worker/entries.js';

/** The events of a run that are still in a stage's input stream, not yet past it. */
export interface StageUndelivered {
  stage: string;
  undelivered: number;
  /** Live workers of the stage: with none, nothing will deliver these events. */
  liveWorkers: number;
}

/**
 * A range of lost seqs and when they were sent, as far as the surviving events tell: seqs are
 * handed out in send order, so a lost seq was sent between its nearest known neighbours.
 */
export interface LostWindow {
  seqs: [number, number];
  /** The send time (ms since the epoch) of the nearest known seq before the range, if any. */
  after?: number;
  /** The send time of the nearest known seq after the range, if any. */
  before?: number;
}

/** The shape of `streamctl verify --json`. */
export interface AuditReport {
  run: string;
  producer: string;
  ok: boolean;
  produced: number;
  delivered: number;
  lost: number;
  /** Lost seqs as inclusive ranges (at most 100 listed). */
  lostRanges: [number, number][];
  duplicates: number;
  /** Events of this producer with a seq it never handed out. */
  unexpected: number;
  /** Keys whose events reached the sink out of seq order. */
  outOfOrderKeys: number;
  deadLettered: number;
  /** Dead-lettered / produced, 0..1 (0 when nothing was produced). */
  deadLetterShare: number;
  /**
   * Events acknowledged and not at the sink or in the dead letters, but still in a stage's input
   * stream (waiting or pending): not lost, not yet delivered. Not counted in `lost`.
   */
  undelivered: number;
  /** Where the undelivered events wait: the furthest stage each reached, stages with none left out. */
  undeliveredByStage: StageUndelivered[];
  /** When the lost seqs were sent (at most 100 ranges, as `lostRanges`). */
  lostWindows: LostWindow[];
  /** From the first lost seq to the last, however many ranges lie between: when the loss began and ended. */
  lostSpan: LostWindow | undefined;
  /** Events whose append was given up by the producer: their fate is unknown, they are not counted lost. */
  unknown: number;
  pending: StagePending[];
  drained: boolean;
}

type Entry = [Buffer, Buffer[]];

/** Reads a whole stream in chunks, calling `visit` for every entry in order. */
async function scanStream(
  client: Redis | Cluster,
  key: string,
  visit: (id: string, fields: Buffer[]) => void,
): Promise<void> {
  let start = '-';
  for (;;) {
    const entries = (await client.xrangeBuffer(key, start, '+', 'COUNT', 500)) as Entry[];
    for (const [id, fields] of entries) visit(id.toString(), fields);
    if (entries.length < 500) return;
    start = `(${entries[entries.length - 1]![0].toString()}`;
  }
}

function ranges(missing: Iterable<number>, limit: number): [number, number][] {
  const out: [number, number][] = [];
  for (const s of missing) {
    const last = out[out.length - 1];
    if (last && last[1] === s - 1) last[1] = s;
    else if (out.length < limit) out.push([s, s]);
    else break;
  }
  return out;
}

/**
 * Reconciles what a run's producer appended with what reached the sink (`out`) and the dead-letter
 * streams: lost, duplicated, unexpected and out-of-order events, and what is still in flight.
 */
export async function audit(
  client: Redis | Cluster,
  topology: Topology,
  run: RunRecord,
  o: {
    onDelivered?: (e: StreamEvent) => void;
    /** Each sink entry with events of the run that carries a trace context (field tc). */
    onTraced?: (t: { stream: string; id: string; traceparent: string; events: number }) => void;
  } = {},
): Promise<AuditReport> {
  const { keys, partitions } = topology;
  const first = run.firstSeq;
  const n = Math.max(0, run.lastSeq - first + 1);
  const seen = new Uint16Array(n);
  const dead = new Uint8Array(n);
  let unexpected = 0;
  let outOfOrder = 0;
  let duplicates = 0;
  let deadLettered = 0;
  const disordered = new Set<string>();
  // Send times of the seqs seen anywhere (NaN: never seen), to date the lost ones by their neighbours.
  const sentAt = new Float64Array(n).fill(NaN);
  const stamp = (e: StreamEvent) => {
    const i = e.seq - first;
    if (e.producer === run.producer && i >= 0 && i < n && Number.isNaN(sentAt[i]!)) sentAt[i] = e.ts;
  };

  const account = (e: StreamEvent, lastByKey: Map<string, number>) => {
    if (e.producer !== run.producer) return;
    const i = e.seq - first;
    if (i < 0 || i >= n || !Number.isInteger(i)) {
      unexpected++;
      return;
    }
    if (seen[i]! > 0) duplicates++;
    else o.onDelivered?.(e);
    if (seen[i]! < 0xffff) seen[i]!++;
    const prev = lastByKey.get(e.key);
    if (prev !== undefined && e.seq < prev && !disordered.has(e.key)) {
      disordered.add(e.key);
      outOfOrder++;
    }
    lastByKey.set(e.key, Math.max(prev ?? 0, e.seq));
  };

  for (let k = 0; k < partitions; k++) {
    const lastByKey = new Map<string, number>();
    const out = keys.stream(k, OUT);
    await scanStream(client, out, (id, fields) => {
      let events: StreamEvent[];
      try {
        events = decodeEntry(fields);
      } catch {
        return; // foreign entries in the sink are not this run's events
      }
      for (const e of events) {
        account(e, lastByKey);
        stamp(e);
      }
      if (o.onTraced) {
        const mine = events.filter((e) => e.producer === run.producer).length;
        const tp = mine ? traceParentOf(fields) : undefined;
        if (tp) o.onTraced({ stream: out, id: id.toString(), traceparent: tp, events: mine });
      }
    });
    await scanStream(client, keys.dlq(k), (_id, fields) => {
      const f = pairs(fields.map((b, i) => (i % 2 === 0 ? b.toString() : b)));
      if (!Buffer.isBuffer(f.b)) return;
      let events: StreamEvent[];
      try {
        events = decodeBatch(f.b);
      } catch {
        return; // a damaged dead letter holds no event we can attribute
      }
      for (const e of events) {
        stamp(e);
        const i = e.seq - first;
        if (e.producer === run.producer && i >= 0 && i < n && !dead[i]) {
          dead[i] = 1;
          deadLettered++;
        }
      }
    });
  }

  const unknown = new Uint8Array(n);
  let unknownCount = 0;
  for (const [a, b] of run.failedRanges ?? []) {
    for (let s = a; s <= b; s++) {
      if (!unknown[s - first]) unknownCount++;
      unknown[s - first] = 1;
    }
  }
  // An event missing from the sink and the dead letters may still be on its way: it is then in
  // the input stream of the stage that holds it (stages never trim their input), and only an
  // event in no stream at all is lost. Stages are scanned in order so the furthest one wins.
  const missingAny = () => {
    for (let i = 0; i < n; i++) if (seen[i] === 0 && !dead[i] && !unknown[i]) return true;
    return false;
  };
  const heldBy = new Uint16Array(n);
  if (missingAny()) {
    for (const [index, stage] of topology.stages.entries()) {
      for (let k = 0; k < partitions; k++) {
        await scanStream(client, keys.stream(k, stage.input), (_id, fields) => {
          let events: StreamEvent[];
          try {
            events = decodeEntry(fields);
          } catch {
            return;
          }
          for (const e of events) {
            const i = e.seq - first;
            if (e.producer !== run.producer || i < 0 || i >= n || seen[i]! > 0 || dead[i]) continue;
            heldBy[i] = index + 1;
            stamp(e);
          }
        });
      }
    }
  }
  let delivered = 0;
  let lost = 0;
  const undeliveredAt = new Array<number>(topology.stages.length).fill(0);
  const isLost = (i: number) => seen[i] === 0 && !dead[i] && !unknown[i] && !heldBy[i];
  function* missing() {
    for (let i = 0; i < n; i++) if (isLost(i)) yield i + first;
  }
  for (let i = 0; i < n; i++) {
    if (seen[i]! > 0) delivered++;
    else if (dead[i] || unknown[i]) continue;
    else if (heldBy[i]) undeliveredAt[heldBy[i]! - 1]!++;
    else lost++;
  }
  const undelivered = undeliveredAt.reduce((a, b) => a + b, 0);
  const live = undelivered ? await liveHeartbeats(client, keys.ns) : [];
  const undeliveredByStage = topology.stages.flatMap((s, i) =>
    undeliveredAt[i]
      ? [{ stage: s.name, undelivered: undeliveredAt[i]!, liveWorkers: live.filter((h) => h.stage === s.name).length }]
      : [],
  );
  const lostRanges = ranges(missing(), 100);
  let firstLost: number | undefined;
  let lastLost: number | undefined;
  for (let i = 0; i < n; i++)
    if (isLost(i)) {
      firstLost ??= i + first;
      lastLost = i + first;
    }
  const pending = await stagePending(client, topology);
  const drained = isDrained(pending);
  const produced = n - unknownCount;
  return {
    run: run.id,
    producer: run.producer,
    ok: lost === 0 && duplicates === 0 && undelivered === 0,
    produced,
    delivered,
    lost,
    lostRanges,
    duplicates,
    unexpected,
    outOfOrderKeys: outOfOrder,
    deadLettered,
    deadLetterShare: produced > 0 ? deadLettered / produced : 0,
    undelivered,
    undeliveredByStage,
    lostWindows: lostRanges.map(([a, b]) => lostWindow(sentAt, first, a, b)),
    lostSpan: firstLost !== undefined ? lostWindow(sentAt, first, firstLost, lastLost!) : undefined,
    unknown: unknownCount,
    pending,
    drained,
  };
}

/** The send times of the nearest seqs around `a..b` that were seen somewhere. */
function lostWindow(sentAt: Float64Array, first: number, a: number, b: number): LostWindow {
  const w: LostWindow = { seqs: [a, b] };
  for (let i = a - first - 1; i >= 0; i--)
    if (!Number.isNaN(sentAt[i]!)) {
      w.after = sentAt[i]!;
      break;
    }
  for (let i = b - first + 1; i < sentAt.length; i++)
    if (!Number.isNaN(sentAt[i]!)) {
      w.before = sentAt[i]!;
      break;
    }
  return w;
}
