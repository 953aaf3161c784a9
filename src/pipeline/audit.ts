import type { Cluster, Redis } from 'ioredis';
import { decodeBatch, decodeEntry, type StreamEvent } from './codec.js';
import { pairs } from '../redis/info.js';
import { isDrained, stagePending, type StagePending } from './backlog.js';
import type { RunRecord } from './runs.js';
import { OUT, type Topology } from './topology.js';

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
  o: { onDelivered?: (e: StreamEvent) => void } = {},
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
    await scanStream(client, keys.stream(k, OUT), (_id, fields) => {
      let events: StreamEvent[];
      try {
        events = decodeEntry(fields);
      } catch {
        return; // foreign entries in the sink are not this run's events
      }
      for (const e of events) account(e, lastByKey);
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
  let delivered = 0;
  let lost = 0;
  function* missing() {
    for (let i = 0; i < n; i++) if (seen[i] === 0 && !dead[i] && !unknown[i]) yield i + first;
  }
  for (let i = 0; i < n; i++) {
    if (seen[i]! > 0) delivered++;
    else if (!dead[i] && !unknown[i]) lost++;
  }
  const pending = await stagePending(client, topology);
  const drained = isDrained(pending);
  return {
    run: run.id,
    producer: run.producer,
    ok: lost === 0 && duplicates === 0,
    produced: n - unknownCount,
    delivered,
    lost,
    lostRanges: ranges(missing(), 100),
    duplicates,
    unexpected,
    outOfOrderKeys: outOfOrder,
    deadLettered,
    unknown: unknownCount,
    pending,
    drained,
  };
}
