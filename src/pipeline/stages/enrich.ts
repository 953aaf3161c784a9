import { DEGRADED, type Stage } from '../stage.js';
import { decodeMetricRecord, encodeMetricRecord, isMetricRecord } from './metric-record.js';
import { KeyTimeHeap, type KeyTimeNode } from './key-time-heap.js';
import { SpreadPrior } from './spread-prior.js';
import { ByteReader, ByteWriter, isJsonEntry } from './state-bytes.js';

const NO_REF = Buffer.alloc(0);

/** Rolling statistics of one key: EWMA mean and variance, after a Welford warm-up. */
export interface KeyStats {
  n: number;
  mean: number;
  /** Variance (EWMA), or during warm-up the Welford sum of squares. */
  v: number;
  last: number;
  /** Consecutive outliers seen: enough of them mean the level moved, not that values are wrong. */
  out: number;
  /** Their values, to restart from the new level. */
  recent: number[];
  /** The level before the last shift, and for how many more events a return to it undoes the shift. */
  prev?: number;
  probation?: number;
}

/** The statistics of a key before its first event. */
export function freshStats(): KeyStats {
  return { n: 0, mean: 0, v: 0, last: 0, out: 0, recent: [] };
}

export interface EnrichParams {
  /** Hash of reference data in the namespace: key -> JSON {region, service, owner, tier}. */
  reference: string;
  /** EWMA weight of a new value. */
  alpha: number;
  /** Events of a key before its statistics are the rolling ones (and `ready`: the forest's features). */
  warmup: number;
  /**
   * Events of a key from which, during its warm-up, a z-score is given from the mean and standard
   * deviation of its values alone (detection scores it with its fallback until the key is ready).
   * Before that, from its second value, the z-score uses its type's spread (`SpreadPrior`) once
   * known, weighted as `priorWeight` values against the key's own.
   */
  minHistory: number;
  /** How many of a key's own values the type's spread counts as, while the key warms up. */
  priorWeight: number;
  /** |z| above which a value is an outlier and does not move the statistics. */
  outlier: number;
  /** Consecutive outliers after which the key's level is taken to have shifted... */
  shiftAfter: number;
  /** ...if their spread is under this many standard deviations. */
  shiftSpread: number;
  /** Events after a shift during which a return to the old level undoes it. */
  probation: number;
  /**
   * Event time (ms) after which the statistics of a key with no newer event are dropped: the key
   * starts over (warm-up included) if it comes back. Idle is measured against the partition's
   * watermark, the largest event time it has seen, never the wall clock.
   */
  keyIdle: number;
  /** Keys with statistics per partition at most: over it, the keys seen least recently (event time) go first. */
  maxKeys: number;
}

export const ENRICH_DEFAULTS: EnrichParams = {
  reference: 'reference',
  alpha: 0.05,
  warmup: 20,
  minHistory: 8,
  priorWeight: 4,
  outlier: 4,
  shiftAfter: 3,
  shiftSpread: 1.5,
  // A burst taken for a shift is over within a few events; a level that moves back later is a shift of its own.
  probation: 10,
  // An hour: statistics of a key silent that long describe a level that has likely moved on, and
  // the warm-up to rebuild them takes `warmup` events.
  keyIdle: 3_600_000,
  // Chosen so that a worker fed by a million distinct keys stays within 1.5x of its memory with a
  // thousand (`npm run bench -- memory`; the cost per key held is in docs/PERFORMANCE.md).
  maxKeys: 2_500,
};

/**
 * The enrich params with the defaults filled in.
 * @throws Error when keyIdle is not a positive number of ms or maxKeys not a positive integer.
 */
export function enrichParams(params: Record<string, unknown>): EnrichParams {
  const p: EnrichParams = { ...ENRICH_DEFAULTS, ...(params as Partial<EnrichParams>) };
  if (typeof p.keyIdle !== 'number' || !(p.keyIdle > 0))
    throw new Error(`enrich: params.keyIdle must be a positive number of ms of event time, not ${String(p.keyIdle)}`);
  if (!Number.isInteger(p.maxKeys) || p.maxKeys < 1)
    throw new Error(`enrich: params.maxKeys must be a positive integer, not ${String(p.maxKeys)}`);
  return p;
}

/** The format byte of a key's statistics entry: 2 adds the key's last event time to 1. */
const STATS_FORMAT = 2;
const STATS_FORMAT_UNTIMED = 1;
const HAS_PREV = 1;
const HAS_PROBATION = 2;

/** A key's statistics entry read back; `time` is undefined for an entry of an earlier version. */
interface StoredStats {
  stats: KeyStats;
  time: number | undefined;
}

/**
 * A key's statistics as a state entry: u8 format | u8 flags | u16 recent count | f64 last event
 * time | f64 n, mean, v, last, out | f64 prev, f64 probation (when flagged) | f64 recent values.
 * Format 1 (and the JSON before it) lacks the event time.
 */
function encodeKeyStats(s: KeyStats, time: number, w = new ByteWriter(64)): Buffer {
  w.u8(STATS_FORMAT)
    .u8((s.prev !== undefined ? HAS_PREV : 0) | (s.probation !== undefined ? HAS_PROBATION : 0))
    .u16(s.recent.length)
    .f64(time)
    .f64(s.n)
    .f64(s.mean)
    .f64(s.v)
    .f64(s.last)
    .f64(s.out);
  if (s.prev !== undefined) w.f64(s.prev);
  if (s.probation !== undefined) w.f64(s.probation);
  for (const x of s.recent) w.f64(x);
  return w.take();
}

/**
 * Reads a key's statistics entry, binary or the JSON of earlier versions.
 * @throws Error when the entry is neither.
 */
function decodeKeyStats(entry: Buffer): StoredStats {
  if (isJsonEntry(entry)) return { stats: JSON.parse(entry.toString()) as KeyStats, time: undefined };
  const r = new ByteReader(entry);
  const format = r.u8();
  if (format !== STATS_FORMAT && format !== STATS_FORMAT_UNTIMED)
    throw new Error(`enrich: a key statistics entry of unknown format ${format}`);
  const flags = r.u8();
  const recent = r.u16();
  const time = format === STATS_FORMAT ? r.f64() : undefined;
  const s: KeyStats = { n: r.f64(), mean: r.f64(), v: r.f64(), last: r.f64(), out: r.f64(), recent: [] };
  if (flags & HAS_PREV) s.prev = r.f64();
  if (flags & HAS_PROBATION) s.probation = r.f64();
  for (let i = 0; i < recent; i++) s.recent.push(r.f64());
  r.end();
  return { stats: s, time };
}

/**
 * The standard deviation a warming-up key's next value is scored with: its type's spread at the
 * key's level (`priorCv`) weighted as `priorWeight` values against the key's own sum of squares,
 * and widened by the uncertainty of a mean of few values; without a prior, the key's own once it
 * has `minHistory` values; else 0 (no z-score).
 */
function warmupStd(s: KeyStats, p: EnrichParams, priorCv: number | undefined): number {
  if (priorCv !== undefined && s.n >= 1 && s.mean !== 0) {
    const prior = priorCv * Math.abs(s.mean);
    const ss = s.n >= 2 ? s.v : 0;
    return Math.sqrt(((ss + p.priorWeight * prior * prior) / (s.n - 1 + p.priorWeight)) * (1 + 1 / s.n));
  }
  return s.n >= p.minHistory ? Math.sqrt(s.v / (s.n - 1)) : 0;
}

/**
 * Adds `x` to a warming-up key's running mean and sum of squares (Welford); at the warm-up's last
 * value the sum becomes the variance the rolling statistics go on from.
 */
function warmupAdd(s: KeyStats, x: number, p: EnrichParams): void {
  s.n++;
  const d = x - s.mean;
  s.mean += d / s.n;
  s.v += d * (x - s.mean);
  if (s.n === p.warmup) s.v = s.v / (s.n - 1);
}

/** A warming-up key whose values moved away: its warm-up starts again from the values that moved. */
function restartWarmup(s: KeyStats, value: number, p: EnrichParams): void {
  s.n = 0;
  s.mean = 0;
  s.v = 0;
  for (const x of s.recent) warmupAdd(s, x, p);
  s.last = value;
  s.out = 0;
  s.recent = [];
}

/**
 * Updates a key's statistics with `value` and returns its z-score and delta against the state
 * before the update. Outliers leave the statistics alone (a spike must not drag the mean), unless
 * `shiftAfter` of them come in a row: then the level moved and the statistics restart there.
 * `priorCv`, the relative spread of the key's type, gives a z-score from a key's second value.
 */
export function observe(
  s: KeyStats,
  value: number,
  p: EnrichParams,
  priorCv?: number,
): { z: number; delta: number; std: number; mean: number; ready: boolean } {
  const warm = s.n >= p.warmup;
  const ready = warm;
  const std = warm ? Math.sqrt(s.v) : warmupStd(s, p, priorCv);
  let z = std > 0 ? (value - s.mean) / std : 0;
  if (s.probation && s.prev !== undefined && std > 0) {
    // Values back at the old level soon after a shift: it was a burst, not a shift. Undo it.
    s.probation--;
    const zPrev = (value - s.prev) / std;
    if (Math.abs(z) > p.outlier && Math.abs(zPrev) <= p.outlier) {
      s.mean = s.prev;
      s.probation = 0;
      z = zPrev;
    }
  }
  const mean = s.mean;
  // The change from the last normal value: after a spike, the next normal value is no change.
  const delta = s.n > 0 ? value - s.last : 0;
  if (!warm) {
    // As for a ready key: an outlier does not move the statistics, and outliers in a row restart them.
    if (std > 0 && Math.abs(z) > p.outlier) {
      s.out++;
      s.recent.push(value);
      if (s.out >= p.shiftAfter) restartWarmup(s, value, p);
      return { z, delta, std, mean, ready };
    }
    s.out = 0;
    if (s.recent.length > 0) s.recent = [];
    s.last = value;
    warmupAdd(s, value, p);
    return { z, delta, std, mean, ready };
  }
  if (Math.abs(z) > p.outlier) {
    s.out++;
    s.recent.push(value);
    if (s.out >= p.shiftAfter) {
      // Outliers that agree with each other are a new level; scattered ones (a burst) are not.
      const m = s.recent.reduce((a, b) => a + b, 0) / s.recent.length;
      const spread = Math.sqrt(s.recent.reduce((a, b) => a + (b - m) ** 2, 0) / s.recent.length);
      if (spread < p.shiftSpread * std) {
        s.prev = s.mean;
        s.probation = p.probation;
        s.mean = m;
        s.last = value;
      }
      s.out = 0;
      s.recent = [];
    }
    return { z, delta, std, mean, ready };
  }
  s.out = 0;
  // Only when there is something to drop: a fresh array per event, stored in a long-lived object,
  // is garbage that outlives young-generation collections.
  if (s.recent.length > 0) s.recent = [];
  s.last = value;
  s.n++;
  const d = value - s.mean;
  const inc = p.alpha * d;
  s.mean += inc;
  s.v = (1 - p.alpha) * (s.v + d * inc);
  return { z, delta, std, mean, ready };
}

/** An event's time as enrich reads it: its `time`, else the time it was sent. */
function eventTime(time: unknown, ts: number): number {
  const t = Number(time ?? ts);
  return Number.isFinite(t) ? t : ts;
}

/**
 * Built-in `enrich`: adds reference data (through the worker's cached, breaker-guarded lookup;
 * events flow marked `degraded` when Redis cannot answer) and per-key rolling statistics
 * (EWMA mean/std, z-score, delta), which are partition state and so survive a crash exactly once.
 * Input: JSON metric events `{key, type, value, time, ...}`. Output: metric records (see
 * metric-record.ts) carrying the original JSON.
 *
 * The statistics are bounded by event time: a key with no event for `keyIdle` behind the
 * partition's watermark (its largest event time) is dropped, and over `maxKeys` the keys seen least
 * recently go first, ties by key. Both are decided event by event from the events alone, and the
 * drops are committed as deleted entries with the batch, so the state in Redis shrinks too and a
 * restart from committed state decides as the run before it would have. The watermark needs no
 * entry of its own: the key with the largest time is never the one dropped, so it is the largest
 * time of the entries.
 *
 * Beside the keys' entries, one per metric type holds the type's spread (`SpreadPrior`), which
 * gives a warming-up key a z-score from its second value.
 *
 * Entries of earlier versions have no time: they count as seen at the watermark of the entries
 * that have one, or, when none has, at the time of the first event after the load; they are
 * rewritten with that time at the next commit.
 */
export function enrich(params: Record<string, unknown>): Stage {
  const p = enrichParams(params);
  const spread = new SpreadPrior();
  let heap = new KeyTimeHeap<KeyStats>();
  // Keys whose statistics changed since the last commit: one state entry per key.
  const dirty = new Set<string>();
  // Keys dropped since the last commit: their entries are deleted.
  const gone = new Set<string>();
  // Statistics of entries without a time while there is no watermark to give them.
  let untimed: [string, KeyStats][] = [];
  let watermark: number | undefined;
  const writer = new ByteWriter();

  const drop = (node: KeyTimeNode<KeyStats>): void => {
    dirty.delete(node.key);
    gone.add(node.key);
  };
  const evictIdle = (): void => {
    if (watermark === undefined) return;
    const floor = watermark - p.keyIdle;
    for (let top = heap.peek(); top && top.time < floor; top = heap.peek()) drop(heap.pop()!);
  };
  const evictOverCap = (): void => {
    while (heap.size > p.maxKeys) drop(heap.pop()!);
  };
  const add = (key: string, time: number, s: KeyStats): KeyTimeNode<KeyStats> => {
    gone.delete(key);
    dirty.add(key);
    return heap.add(key, time, s);
  };
  const advance = (time: number): void => {
    if (watermark !== undefined && time <= watermark) return;
    watermark = time;
    if (untimed.length > 0) {
      for (const [key, s] of untimed) add(key, time, s);
      untimed = [];
    }
    evictIdle();
  };

  return {
    name: 'enrich',
    async process(batch, ctx) {
      const refs = await ctx.services.lookup(
        p.reference,
        batch.map((e) => e.key),
      );
      const refBytes = new Map<string, Buffer>();
      return batch.map((e) => {
        // A record replayed into the pipeline is enriched again from its original event.
        const original = isMetricRecord(e.data) ? decodeMetricRecord(e.data).original : e.data;
        const d = JSON.parse(original.toString()) as { value?: unknown; type?: unknown; time?: unknown };
        const value = Number(d.value);
        const time = eventTime(d.time, e.ts);
        // Before the key's own statistics are used: a key back after keyIdle starts over.
        advance(time);
        let node = heap.get(e.key);
        if (!node) node = add(e.key, time, freshStats());
        else {
          if (time > node.time) heap.move(node, time);
          dirty.add(e.key);
        }
        const s = node.value;
        const type = typeof d.type === 'string' ? d.type : '';
        let o: ReturnType<typeof observe>;
        if (Number.isFinite(value)) {
          const cv = s.n < p.warmup ? spread.cv(type) : undefined;
          spread.learn(type, value, s.mean, s.n);
          o = observe(s, value, p, cv);
        } else o = { z: 0, delta: 0, std: 0, mean: s.mean, ready: false };
        // After every event the state is as a load of it would make it: a late event of a new key
        // can be idle already, or the one seen least recently, and go at once.
        evictIdle();
        evictOverCap();
        const ref = refs.get(e.key);
        let refBuf: Buffer = NO_REF;
        if (typeof ref === 'string') {
          refBuf = refBytes.get(ref) ?? Buffer.from(ref);
          refBytes.set(ref, refBuf);
        }
        const data = encodeMetricRecord({
          type,
          value,
          time: Number(d.time ?? e.ts),
          ready: o.ready,
          degraded: ref === DEGRADED,
          mean: o.mean,
          std: o.std,
          z: o.z,
          delta: o.delta,
          score: null,
          source: null,
          anomaly: false,
          model: 0,
          ref: refBuf,
          original,
        });
        return { ...e, data };
      });
    },
    state: {
      changes() {
        const set: [string, Buffer][] = [];
        for (const key of dirty) {
          const node = heap.get(key)!;
          set.push([key, encodeKeyStats(node.value, node.time, writer)]);
        }
        set.push(...spread.changes(writer));
        const del = [...gone];
        dirty.clear();
        gone.clear();
        return { set, del };
      },
      load(entries) {
        dirty.clear();
        gone.clear();
        heap = new KeyTimeHeap();
        untimed = [];
        watermark = undefined;
        spread.clear();
        for (const [key, value] of entries ?? []) {
          if (spread.load(key, value)) continue;
          const { stats, time } = decodeKeyStats(value);
          if (time === undefined) untimed.push([key, stats]);
          else {
            heap.add(key, time, stats);
            if (watermark === undefined || time > watermark) watermark = time;
          }
        }
        if (watermark !== undefined && untimed.length > 0) {
          for (const [key, s] of untimed) add(key, watermark, s);
          untimed = [];
        }
        // Params may have changed since the commit (a lower maxKeys or keyIdle): the state follows them.
        evictIdle();
        evictOverCap();
      },
    },
  };
}
