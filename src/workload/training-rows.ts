import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Cluster, Redis } from 'ioredis';
import { UsageError } from '../errors.js';
import { decodeEntry } from '../pipeline/codec.js';
import { features } from '../pipeline/stages/detect.js';
import { ENRICH_DEFAULTS, freshStats, observe, type KeyStats } from '../pipeline/stages/enrich.js';
import { isMetricRecord, recordFeatures } from '../pipeline/stages/metric-record.js';
import type { Topology } from '../pipeline/topology.js';

/**
 * The detect stage's feature rows from events in arrival order. Raw events (`{key, value}`) get the
 * enrich statistics computed on the way, as the enrich stage would; events that enrich already saw
 * carry them.
 */
class TrainingRows {
  readonly rows: number[][] = [];
  private readonly stats = new Map<string, KeyStats>();

  constructor(readonly limit: number) {}

  get full(): boolean {
    return this.rows.length >= this.limit;
  }

  /** An event as JSON: raw, or enriched by an earlier version that wrote JSON. */
  add(d: Record<string, unknown>): void {
    if (this.full) return;
    if (d.z !== undefined || d.ready !== undefined) {
      const f = features(d);
      if (f) this.rows.push(f);
      return;
    }
    const value = Number(d.value);
    if (typeof d.key !== 'string' || !Number.isFinite(value)) return;
    let s = this.stats.get(d.key);
    if (!s) this.stats.set(d.key, (s = freshStats()));
    const f = features({ ...observe(s, value, ENRICH_DEFAULTS) });
    if (f) this.rows.push(f);
  }

  /** An enriched metric record. */
  addRecord(data: Buffer): void {
    if (this.full) return;
    const f = features(recordFeatures(data));
    if (f) this.rows.push(f);
  }
}

/**
 * Up to `limit` feature rows from an NDJSON file of metric events.
 * @throws UsageError BAD_FROM naming the file (and the line of one that is not JSON).
 */
export async function rowsFromFile(path: string, limit: number): Promise<number[][]> {
  const rows = new TrainingRows(limit);
  let line = 0;
  const rl = createInterface({ input: createReadStream(path), crlfDelay: Infinity });
  try {
    for await (const text of rl) {
      line++;
      if (!text.trim()) continue;
      let d: Record<string, unknown>;
      try {
        d = JSON.parse(text) as typeof d;
      } catch {
        throw new UsageError(
          'BAD_FROM',
          `${path}:${line}: not JSON`,
          'one JSON object per line with "key" and "value"',
        );
      }
      rows.add(d);
      if (rows.full) break;
    }
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError('BAD_FROM', `--from: cannot read ${path}: ${(err as Error).message}`, 'check the file');
  } finally {
    rl.close();
  }
  return rows.rows;
}

/** Up to `limit` feature rows from the first entries of `stream` in every partition of the namespace. */
export async function rowsFromStreams(
  client: Redis | Cluster,
  topology: Topology,
  stream: string,
  limit: number,
): Promise<number[][]> {
  const rows = new TrainingRows(limit);
  // Entries hold batches of events: a share of `limit` per partition, in entries of up to 50 events at least.
  const count = Math.ceil(limit / topology.partitions / 50) + 1;
  for (let k = 0; k < topology.partitions && !rows.full; k++) {
    const entries = (await client.xrangeBuffer(topology.keys.stream(k, stream), '-', '+', 'COUNT', count)) as [
      Buffer,
      Buffer[],
    ][];
    for (const [, fields] of entries) {
      for (const e of decodeEntry(fields)) {
        if (isMetricRecord(e.data)) rows.addRecord(e.data);
        else rows.add(JSON.parse(e.data.toString()) as Record<string, unknown>);
      }
    }
  }
  return rows.rows;
}
