import type { Cluster, Redis } from 'ioredis';
import type { Histogram } from 'hdr-histogram-js';
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
  /** Latency per window of intended send time (1 s), oldest first; windows without events are left out. */
  overTime: LatencyWindow[];
  /** Events committed into this hop's stream per second of the Redis clock: the hop's throughput over time. */
  commitsOverTime: CommitWindow[];
  /** The longest time between two commits of the run's events into this hop's stream (ms): how long it stood still. */
  longestGapMs?: number;
}

/**
 * One window of a hop's latency, by the events' intended send time (not their commit time), so a
 * stall shows up in the second whose events it delayed.
 */
export interface LatencyWindow {
  /** Window start, seconds since the run's first window (shared by every hop and by `commitsOverTime`). */
  t: number;
  events: number;
  p50: number;
  p99: number;
  max: number;
}

/** Events committed into a hop's stream during one window of the commit clock. */
export interface CommitWindow {
  /** Window start, seconds since the run's first window of intended send time. */
  t: number;
  events: number;
}

/**
 * hdr-histogram-js, loaded on first use: otherwise every process that loads the CLI (workers
 * included) would hold its memory.
 */
let build: typeof import('hdr-histogram-js').build;

function histogram(): Histogram {
  // Microseconds from 1 us to one hour, 3 significant digits.
  return build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 3 });
}

/** Per-window histograms: 2 significant digits are plenty for a chart and 10x smaller than 3. */
function windowHistogram(): Histogram {
  return build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 2 });
}

const ms = (us: number) => Math.round(us) / 1000;
// A percentile is reported as the top of its HDR bucket, which can lie above the exact maximum.
const at = (h: Histogram, p: number) => ms(Math.min(h.getValueAtPercentile(p), h.maxValue));

function summary(stream: string, h: Histogram): Omit<LatencySummary, 'overTime' | 'commitsOverTime' | 'longestGapMs'> {
  return {
    stream,
    events: h.totalCount,
    p50: at(h, 50),
    p90: at(h, 90),
    p99: at(h, 99),
    p999: at(h, 99.9),
    max: ms(h.maxValue),
    mean: ms(h.mean),
  };
}

/**
 * Latency of a run's events at each hop: from each event's intended send time (open loop, so a
 * stall is not hidden) to the commit of the entry that carries it into the hop's stream, read from
 * the entry's `t` field (the Redis clock in microseconds). Milliseconds, from HDR histograms.
 * Also per window of `windowMs` (the same windows for every hop, counted from `originMs`, by
 * default from whole seconds of the wall clock): the latency by intended send time and the events
 * committed by commit time.
 */
export async function hopLatencies(
  client: Redis | Cluster,
  topology: Topology,
  producer: string,
  firstSeq: number,
  lastSeq: number,
  windows: { windowMs?: number; originMs?: number } = {},
): Promise<LatencySummary[]> {
  build ??= (await import('hdr-histogram-js')).build;
  const windowMs = windows.windowMs ?? 1000;
  const base = windows.originMs ?? 0;
  const streams = ['ingest', ...topology.stages.map((s) => s.output)];
  // Windows are kept by absolute index until every hop is read: the origin is the earliest one of all.
  const hops: {
    summary: Omit<LatencySummary, 'overTime' | 'commitsOverTime' | 'longestGapMs'>;
    windows: Map<number, Omit<LatencyWindow, 't'>>;
    commits: Map<number, number>;
    longestGapMs: number;
  }[] = [];
  for (const stream of streams) {
    const h = histogram();
    const perSecond = new Map<number, Histogram>();
    const commits = new Map<number, number>();
    // Commit times (us) of the entries that carry the run's events, for the longest gap between two.
    const committedAt: number[] = [];
    for (let k = 0; k < topology.partitions; k++) {
      let start = '-';
      for (;;) {
        const entries = (await client.xrangeBuffer(topology.keys.stream(k, stream), start, '+', 'COUNT', 500)) as [
          Buffer,
          Buffer[],
        ][];
        for (const [, fields] of entries) {
          let t: number | undefined;
          for (let i = 0; i + 1 < fields.length; i += 2)
            if (fields[i]!.toString() === 't') t = Number(fields[i + 1]!.toString());
          if (t === undefined) continue;
          let events;
          try {
            events = decodeEntry(fields);
          } catch {
            continue;
          }
          const commitWindow = Math.floor((t / 1000 - base) / windowMs);
          let ours = false;
          for (const e of events) {
            if (e.producer !== producer || e.seq < firstSeq || e.seq > lastSeq) continue;
            ours = true;
            const us = Math.max(1, Math.round(t - e.ts * 1000));
            h.recordValue(us);
            const w = Math.floor((e.ts - base) / windowMs);
            let wh = perSecond.get(w);
            if (!wh) perSecond.set(w, (wh = windowHistogram()));
            wh.recordValue(us);
            commits.set(commitWindow, (commits.get(commitWindow) ?? 0) + 1);
          }
          if (ours) committedAt.push(t);
        }
        if (entries.length < 500) break;
        start = `(${entries[entries.length - 1]![0].toString()}`;
      }
    }
    const perWindow = new Map<number, Omit<LatencyWindow, 't'>>();
    for (const [w, wh] of perSecond) {
      perWindow.set(w, { events: wh.totalCount, p50: at(wh, 50), p99: at(wh, 99), max: ms(wh.maxValue) });
      wh.destroy();
    }
    committedAt.sort((a, b) => a - b);
    let gap = 0;
    for (let i = 1; i < committedAt.length; i++) gap = Math.max(gap, committedAt[i]! - committedAt[i - 1]!);
    hops.push({ summary: summary(stream, h), windows: perWindow, commits, longestGapMs: ms(gap) });
    h.destroy();
  }
  let origin = Infinity;
  for (const hop of hops) for (const w of hop.windows.keys()) origin = Math.min(origin, w);
  const sec = (w: number) => ((w - origin) * windowMs) / 1000;
  return hops.map((hop) => ({
    ...hop.summary,
    overTime: [...hop.windows].sort((a, b) => a[0] - b[0]).map(([w, x]) => ({ t: sec(w), ...x })),
    commitsOverTime: [...hop.commits].sort((a, b) => a[0] - b[0]).map(([w, events]) => ({ t: sec(w), events })),
    longestGapMs: hop.longestGapMs,
  }));
}
