import type { Cluster, Redis } from 'ioredis';
import { build, type Histogram } from 'hdr-histogram-js';
import { decodeEntry } from '../pipeline/codec.js';
import type { Topology } from '../pipeline/topology.js';

export interface LatencySummary {
  /** The stream after this hop: `ingest`, then each stage's output. */
  stream: string;
  events: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

function histogram(): Histogram {
  // Microseconds from 1 us to one hour, 3 significant digits.
  return build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 3 });
}

function summary(stream: string, h: Histogram): LatencySummary {
  const ms = (us: number) => Math.round(us) / 1000;
  // A percentile is reported as the top of its HDR bucket, which can lie above the exact maximum.
  const at = (p: number) => ms(Math.min(h.getValueAtPercentile(p), h.maxValue));
  return {
    stream,
    events: h.totalCount,
    p50: at(50),
    p90: at(90),
    p99: at(99),
    p999: at(99.9),
    max: ms(h.maxValue),
    mean: ms(h.mean),
  };
}

/**
 * Latency of a run's events at each hop: from each event's intended send time (open loop, so a
 * stall is not hidden) to the commit of the entry that carries it into the hop's stream, read from
 * the entry's `t` field (the Redis clock in microseconds). Milliseconds, from HDR histograms.
 */
export async function hopLatencies(client: Redis | Cluster, topology: Topology, producer: string, firstSeq: number, lastSeq: number): Promise<LatencySummary[]> {
  const streams = ['ingest', ...topology.stages.map((s) => s.output)];
  const out: LatencySummary[] = [];
  for (const stream of streams) {
    const h = histogram();
    for (let k = 0; k < topology.partitions; k++) {
      let start = '-';
      for (;;) {
        const entries = (await client.xrangeBuffer(topology.keys.stream(k, stream), start, '+', 'COUNT', 500)) as [Buffer, Buffer[]][];
        for (const [, fields] of entries) {
          let t: number | undefined;
          for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i]!.toString() === 't') t = Number(fields[i + 1]!.toString());
          if (t === undefined) continue;
          let events;
          try {
            events = decodeEntry(fields);
          } catch {
            continue;
          }
          for (const e of events) {
            if (e.producer !== producer || e.seq < firstSeq || e.seq > lastSeq) continue;
            h.recordValue(Math.max(1, Math.round(t - e.ts * 1000)));
          }
        }
        if (entries.length < 500) break;
        start = `(${entries[entries.length - 1]![0].toString()}`;
      }
    }
    out.push(summary(stream, h));
    h.destroy();
  }
  return out;
}
