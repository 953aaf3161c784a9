import type { Cluster, Redis } from 'ioredis';
import { UsageError } from '../errors.js';
import { pairs } from '../redis/info.js';
import { decodeBatch, type StreamEvent } from './codec.js';
import type { ScriptClient } from './scripts/scripts.js';
import type { Topology } from './topology.js';

/**
 * Dead-letter queues. Each partition k has one DLQ stream (`keys.dlq(k)`) that the commit script of
 * every stage writes to, with fields `origin` (the input entry id), `stage`, `error`, `deliveries`,
 * `stream` (the input stream key), and either `v` + `b` (a codec batch of the events that failed) or
 * `raw` (JSON of the fields of an entry that could not be decoded).
 *
 * A DLQ entry id is unique only within its partition's stream, so a record is named by its
 * reference `<partition>/<entry id>`, e.g. `3/1712345678901-0`.
 */

/** One event of a dead-lettered batch, by its identity. */
export interface DlqEventRef {
  producer: string;
  seq: number;
  key: string;
}

/** One DLQ record, as `streamctl dlq --json` lists it. */
export interface DlqRecord {
  /** `<partition>/<entry id>`: what `--id` takes. */
  ref: string;
  /** The DLQ stream entry id (unique within the partition only). */
  id: string;
  partition: number;
  /** When it was dead-lettered (from the entry id), ISO 8601. */
  at: string;
  stage: string;
  error: string;
  deliveries: number;
  /** The id of the input stream entry the events came from. */
  origin: string;
  /** The input stream key: where a replay puts the events back. */
  stream: string;
  /** `batch`: failed events, replayable; `raw`: an undecodable entry, not replayable. */
  kind: 'batch' | 'raw';
  /** Events in the record (0 for `raw`). */
  events: number;
  /** The first events (at most the `sample` asked for). */
  sample: DlqEventRef[];
  /** The undecodable entry's fields as JSON (kind `raw` only). */
  raw?: string;
  /** Set when the batch of a `batch` record does not decode. */
  decodeError?: string;
}

/** Which records an operation applies to. Both filters apply when both are given. */
export interface DlqFilter {
  /** Only records of this stage. */
  stage?: string | undefined;
  /** Only these records: `<partition>/<entry id>` or a bare entry id (see {@link resolveDlqIds}). */
  ids?: readonly string[] | undefined;
}

/** A parsed DLQ record reference. */
export interface DlqRef {
  partition: number | undefined;
  id: string;
}

const REF = /^(?:(\d+)\/)?(\d+-\d+)$/;

/**
 * Parses `<partition>/<entry id>` or a bare `<entry id>`.
 * @returns undefined when `text` is neither.
 */
export function parseDlqRef(text: string): DlqRef | undefined {
  const m = REF.exec(text.trim());
  if (!m) return undefined;
  return { partition: m[1] === undefined ? undefined : Number(m[1]), id: m[2]! };
}

type Entry = [Buffer, Buffer[]];
type Raw = { partition: number; id: string; fields: Record<string, Buffer> };

const CHUNK = 500;

/** Reads a stream in chunks, in id order, calling `visit` for each entry. */
async function scan(
  client: Redis | Cluster,
  key: string,
  visit: (id: string, fields: Record<string, Buffer>) => void,
): Promise<void> {
  let start = '-';
  for (;;) {
    const entries = (await client.xrangeBuffer(key, start, '+', 'COUNT', CHUNK)) as Entry[];
    for (const [id, fields] of entries) {
      const f = pairs(fields.map((b, i) => (i % 2 === 0 ? b.toString() : b))) as Record<string, Buffer>;
      visit(id.toString(), f);
    }
    if (entries.length < CHUNK) return;
    start = `(${entries[entries.length - 1]![0].toString()}`;
  }
}

function str(b: Buffer | undefined): string {
  return b === undefined ? '' : b.toString();
}

function compareIds(a: string, b: string): number {
  const [am = 0, as = 0] = a.split('-').map(Number);
  const [bm = 0, bs = 0] = b.split('-').map(Number);
  return am - bm || as - bs;
}

function toRecord(r: Raw, sample: number): DlqRecord {
  const f = r.fields;
  const ms = Number(r.id.split('-')[0]);
  const rec: DlqRecord = {
    ref: `${r.partition}/${r.id}`,
    id: r.id,
    partition: r.partition,
    at: new Date(ms).toISOString(),
    stage: str(f.stage),
    error: str(f.error),
    deliveries: Number(str(f.deliveries) || 0),
    origin: str(f.origin),
    stream: str(f.stream),
    kind: f.b !== undefined ? 'batch' : 'raw',
    events: 0,
    sample: [],
  };
  if (f.b !== undefined) {
    try {
      const events: StreamEvent[] = decodeBatch(f.b);
      rec.events = events.length;
      rec.sample = events.slice(0, sample).map((e) => ({ producer: e.producer, seq: e.seq, key: e.key }));
    } catch (err) {
      rec.decodeError = (err as Error).message;
    }
  } else if (f.raw !== undefined) {
    rec.raw = f.raw.toString();
  }
  return rec;
}

/**
 * Resolves `--id` values to (partition, entry id) pairs that exist. A bare entry id is looked up in
 * every partition; it must match exactly one record.
 * @throws UsageError BAD_DLQ_ID (malformed), DLQ_ID_NOT_FOUND or DLQ_ID_AMBIGUOUS (exit 2).
 */
async function resolveDlqIds(
  client: Redis | Cluster,
  topology: Topology,
  ids: readonly string[],
): Promise<Map<number, Set<string>>> {
  const { keys, partitions } = topology;
  const out = new Map<number, Set<string>>();
  const missing: string[] = [];
  for (const text of ids) {
    const ref = parseDlqRef(text);
    if (!ref)
      throw new UsageError(
        'BAD_DLQ_ID',
        `--id: "${text}" is not a DLQ record reference`,
        'use PARTITION/ENTRY-ID as listed by `streamctl dlq`, e.g. 3/1712345678901-0',
      );
    if (ref.partition !== undefined && ref.partition >= partitions) {
      throw new UsageError(
        'DLQ_ID_NOT_FOUND',
        `--id: partition ${ref.partition} of "${text}" does not exist (namespace "${keys.ns}" has ${partitions})`,
        'copy the reference from `streamctl dlq`',
      );
    }
    const candidates = ref.partition !== undefined ? [ref.partition] : Array.from({ length: partitions }, (_, k) => k);
    const found = (
      await Promise.all(
        candidates.map(async (k) => ((await client.xrange(keys.dlq(k), ref.id, ref.id)).length ? k : undefined)),
      )
    ).filter((k): k is number => k !== undefined);
    if (found.length === 0) missing.push(text);
    else if (found.length > 1) {
      throw new UsageError(
        'DLQ_ID_AMBIGUOUS',
        `--id: entry id ${ref.id} is in several partitions (${found.join(', ')})`,
        `name the record with its partition, e.g. ${found[0]}/${ref.id}`,
      );
    } else {
      const k = found[0]!;
      if (!out.has(k)) out.set(k, new Set());
      out.get(k)!.add(ref.id);
    }
  }
  if (missing.length) {
    throw new UsageError(
      'DLQ_ID_NOT_FOUND',
      `--id: no DLQ record ${missing.join(', ')} in namespace "${keys.ns}"`,
      'list the records with `streamctl dlq`; nothing was changed',
    );
  }
  return out;
}

/**
 * Visits the records of every partition that pass the filter, partition by partition, each in id
 * order. Records of the id filter are read directly; otherwise the DLQ streams are scanned.
 */
async function each(
  client: Redis | Cluster,
  topology: Topology,
  filter: DlqFilter,
  visit: (r: Raw) => void,
): Promise<void> {
  const { keys, partitions } = topology;
  const byPartition = filter.ids?.length ? await resolveDlqIds(client, topology, filter.ids) : undefined;
  for (let k = 0; k < partitions; k++) {
    const key = keys.dlq(k);
    if (byPartition) {
      const ids = [...(byPartition.get(k) ?? [])].sort(compareIds);
      for (const id of ids) {
        const entries = (await client.xrangeBuffer(key, id, id)) as Entry[];
        const e = entries[0];
        if (!e) continue; // removed meanwhile (replayed or purged by someone else)
        const fields = pairs(e[1].map((b, i) => (i % 2 === 0 ? b.toString() : b))) as Record<string, Buffer>;
        if (filter.stage !== undefined && str(fields.stage) !== filter.stage) continue;
        visit({ partition: k, id, fields });
      }
    } else {
      await scan(client, key, (id, fields) => {
        if (filter.stage === undefined || str(fields.stage) === filter.stage) visit({ partition: k, id, fields });
      });
    }
  }
}

export interface DlqListing {
  /** Records that pass the filter, in all partitions. */
  total: number;
  /** Events in those records (batch records only). */
  totalEvents: number;
  /** Matching records per stage. */
  byStage: Record<string, number>;
  /** The oldest `limit` matching records over all partitions, oldest first. */
  records: DlqRecord[];
}

/**
 * Lists the DLQ records of a namespace (every partition), optionally filtered by stage and ids.
 * Memory stays bounded by `limit` per partition whatever the DLQ holds.
 * @param opts.limit records returned (default 50); `total` and `byStage` count them all.
 * @param opts.sample events listed per record (default 3).
 */
export async function listDlq(
  client: Redis | Cluster,
  topology: Topology,
  opts: DlqFilter & { limit?: number | undefined; sample?: number | undefined } = {},
): Promise<DlqListing> {
  const limit = opts.limit ?? 50;
  const sample = opts.sample ?? 3;
  let total = 0;
  let totalEvents = 0;
  const byStage: Record<string, number> = {};
  const kept: Raw[] = [];
  let keptHere = 0;
  let partition = -1;
  await each(client, topology, opts, (r) => {
    if (r.partition !== partition) {
      partition = r.partition;
      keptHere = 0;
    }
    total++;
    const stage = str(r.fields.stage);
    byStage[stage] = (byStage[stage] ?? 0) + 1;
    // The event count sits after the producer table: reading it avoids decoding every batch.
    if (r.fields.b !== undefined) totalEvents += eventCount(r.fields.b);
    // Each partition is in id order, so the oldest `limit` overall are among its first `limit`.
    if (keptHere < limit) {
      kept.push(r);
      keptHere++;
    }
  });
  kept.sort((a, b) => compareIds(a.id, b.id) || a.partition - b.partition);
  return { total, totalEvents, byStage, records: kept.slice(0, limit).map((r) => toRecord(r, sample)) };
}

/** The event count of an encoded batch, or 0 when it is malformed. */
function eventCount(b: Buffer): number {
  try {
    let o = 1;
    const np = b.readUInt16LE(o);
    o += 2;
    for (let i = 0; i < np; i++) o += 2 + b.readUInt16LE(o);
    return b.readUInt32LE(o);
  } catch {
    return 0;
  }
}

export interface DlqReplayResult {
  /** Records that passed the filter. */
  matched: number;
  /** Records moved back to their input stream (and removed from the DLQ). */
  replayed: number;
  /** Events in the replayed records. */
  events: number;
  /** Records left in the DLQ, with why. */
  skipped: { ref: string; stage: string; reason: string }[];
  /** Stages of the replayed records, with how many each. */
  byStage: Record<string, number>;
}

const REPLAY_CHUNK = 200;

/**
 * Moves dead-lettered batches back to the stream they came from (`stream`), so the stage that
 * failed on them processes them again; each partition's records go in one script call per chunk,
 * atomically per record (XADD to the input stream, XDEL from the DLQ). Records without a batch
 * (undecodable entries) cannot be replayed and stay.
 *
 * Replayed events come after events of the same keys that passed meanwhile: per-key order does not
 * hold across a replay.
 */
export async function replayDlq(
  client: ScriptClient,
  topology: Topology,
  filter: DlqFilter = {},
): Promise<DlqReplayResult> {
  const result: DlqReplayResult = { matched: 0, replayed: 0, events: 0, skipped: [], byStage: {} };
  const plan = new Map<number, { id: string; stage: string; events: number }[]>();
  await each(client, topology, filter, (r) => {
    result.matched++;
    const stage = str(r.fields.stage);
    const ref = `${r.partition}/${r.id}`;
    if (r.fields.b === undefined || r.fields.stream === undefined) {
      result.skipped.push({
        ref,
        stage,
        reason: 'undecodable entry (raw): nothing to replay; inspect it and purge it',
      });
      return;
    }
    if (!plan.has(r.partition)) plan.set(r.partition, []);
    plan.get(r.partition)!.push({ id: r.id, stage, events: eventCount(r.fields.b) });
  });
  for (const [k, records] of plan) {
    for (let i = 0; i < records.length; i += REPLAY_CHUNK) {
      const chunk = records.slice(i, i + REPLAY_CHUNK);
      const n = await client.streamctlDlqReplay(topology.keys.dlq(k), ...chunk.map((r) => r.id));
      // Fewer than asked: some vanished between the scan and the script (replayed or purged
      // concurrently) or could not be moved; those still in the DLQ are reported as skipped.
      const left =
        n === chunk.length
          ? new Set<string>()
          : new Set(
              (
                await Promise.all(
                  chunk.map(async (r) => ((await client.xrange(topology.keys.dlq(k), r.id, r.id)).length ? r.id : '')),
                )
              ).filter(Boolean),
            );
      for (const r of chunk) {
        if (left.has(r.id)) {
          result.skipped.push({ ref: `${k}/${r.id}`, stage: r.stage, reason: 'not replayed (still in the DLQ)' });
          continue;
        }
        result.events += r.events;
        result.byStage[r.stage] = (result.byStage[r.stage] ?? 0) + 1;
      }
      result.replayed += n;
    }
  }
  return result;
}

export interface DlqPurgeResult {
  /** Records removed. */
  purged: number;
  byStage: Record<string, number>;
}

/**
 * Deletes DLQ records. With no filter, every partition's DLQ stream is deleted (XLEN + DEL in one
 * transaction per partition, so `purged` is exact; `byStage` counts the records read just before);
 * with a stage or ids, the matching entries are XDELed. Ids are resolved before anything is
 * deleted, so an unknown id changes nothing.
 */
export async function purgeDlq(
  client: Redis | Cluster,
  topology: Topology,
  filter: DlqFilter = {},
): Promise<DlqPurgeResult> {
  const { keys, partitions } = topology;
  const result: DlqPurgeResult = { purged: 0, byStage: {} };
  if (filter.stage === undefined && !filter.ids?.length) {
    // Count by stage first (for the report), then delete atomically with the exact length.
    for (let k = 0; k < partitions; k++) {
      const key = keys.dlq(k);
      const counts: Record<string, number> = {};
      await scan(client, key, (_id, f) => {
        const s = str(f.stage);
        counts[s] = (counts[s] ?? 0) + 1;
      });
      const replies = await client.multi().xlen(key).del(key).exec();
      const len = Number(replies?.[0]?.[1] ?? 0);
      result.purged += len;
      for (const [s, n] of Object.entries(counts)) result.byStage[s] = (result.byStage[s] ?? 0) + n;
    }
    return result;
  }
  const plan = new Map<number, { id: string; stage: string }[]>();
  await each(client, topology, filter, (r) => {
    if (!plan.has(r.partition)) plan.set(r.partition, []);
    plan.get(r.partition)!.push({ id: r.id, stage: str(r.fields.stage) });
  });
  for (const [k, records] of plan) {
    for (let i = 0; i < records.length; i += CHUNK) {
      const chunk = records.slice(i, i + CHUNK);
      result.purged += await client.xdel(keys.dlq(k), ...chunk.map((r) => r.id));
      for (const r of chunk) result.byStage[r.stage] = (result.byStage[r.stage] ?? 0) + 1;
    }
  }
  return result;
}
