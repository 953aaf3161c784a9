/**
 * The metric record: how the built-in stages pass an event to each other after `enrich`. Parsing
 * and re-encoding JSON in every stage was most of the default pipeline's CPU; a fixed binary layout
 * is read and written in place. The event's original JSON travels inside, untouched, so the sink
 * still holds what the producer sent.
 *
 * Layout (little endian):
 *   0 u8 magic 0xB7 | 1 u8 version | 2 u8 flags | 3 u8 type length
 *   4 f64 value | 12 f64 time | 20 f64 mean | 28 f64 std | 36 f64 z | 44 f64 delta | 52 f64 score
 *   60 u32 model version | 64 u16 reference length | 66 u32 original length
 *   70 type (utf8) | reference (JSON) | original event (JSON)
 */
const MAGIC = 0xb7;
const VERSION = 1;
const HEADER = 70;

const READY = 1;
const DEGRADED = 2;
const SCORED = 4;
const ANOMALY = 8;
/** The score is the z-score fallback's (|z|, in standard deviations), not the forest's. */
const FALLBACK = 16;

/** What scored an event: the Isolation Forest, or the z-score fallback while there is no model or the key warms up. */
export type ScoreSource = 'forest' | 'zscore';

/** The flags byte's detection bits: scored, flagged, and by the fallback. */
function scoreFlags(score: number | null, anomaly: boolean, source: ScoreSource | null): number {
  const scored = score === null ? 0 : SCORED | (source === 'zscore' ? FALLBACK : 0);
  return scored | (anomaly ? ANOMALY : 0);
}

export interface MetricRecord {
  type: string;
  value: number;
  /** Event time, ms. */
  time: number;
  /** False while the key warms up: z and delta mean nothing yet. */
  ready: boolean;
  /** The reference lookup could not be answered (breaker open or Redis failing). */
  degraded: boolean;
  mean: number;
  std: number;
  z: number;
  delta: number;
  /** The detection score (see `source`), null when the event could not be scored. */
  score: number | null;
  /** What gave `score`. */
  source: ScoreSource | null;
  anomaly: boolean;
  model: number;
  /** Reference data as JSON bytes (empty when none). */
  ref: Buffer;
  /** The event as the producer sent it. */
  original: Buffer;
}

/** Whether `data` is a metric record (rather than a producer's JSON). */
export function isMetricRecord(data: Buffer): boolean {
  return data.length >= HEADER && data[0] === MAGIC && data[1] === VERSION;
}

export function encodeMetricRecord(r: MetricRecord): Buffer {
  const typeLen = Buffer.byteLength(r.type);
  const buf = Buffer.allocUnsafe(HEADER + typeLen + r.ref.length + r.original.length);
  buf[0] = MAGIC;
  buf[1] = VERSION;
  buf[2] = (r.ready ? READY : 0) | (r.degraded ? DEGRADED : 0) | scoreFlags(r.score, r.anomaly, r.source);
  buf[3] = typeLen;
  buf.writeDoubleLE(r.value, 4);
  buf.writeDoubleLE(r.time, 12);
  buf.writeDoubleLE(r.mean, 20);
  buf.writeDoubleLE(r.std, 28);
  buf.writeDoubleLE(r.z, 36);
  buf.writeDoubleLE(r.delta, 44);
  buf.writeDoubleLE(r.score ?? 0, 52);
  buf.writeUInt32LE(r.model, 60);
  buf.writeUInt16LE(r.ref.length, 64);
  buf.writeUInt32LE(r.original.length, 66);
  let o = HEADER + buf.write(r.type, HEADER);
  o += r.ref.copy(buf, o);
  r.original.copy(buf, o);
  return buf;
}

/** @throws Error when `data` is not a complete metric record. */
export function decodeMetricRecord(data: Buffer): MetricRecord {
  if (!isMetricRecord(data)) throw new Error('not a metric record');
  const flags = data[2]!;
  const typeLen = data[3]!;
  const refLen = data.readUInt16LE(64);
  const origLen = data.readUInt32LE(66);
  if (HEADER + typeLen + refLen + origLen !== data.length) throw new Error('metric record of the wrong length');
  const refStart = HEADER + typeLen;
  return {
    type: data.toString('utf8', HEADER, refStart),
    value: data.readDoubleLE(4),
    time: data.readDoubleLE(12),
    ready: (flags & READY) !== 0,
    degraded: (flags & DEGRADED) !== 0,
    mean: data.readDoubleLE(20),
    std: data.readDoubleLE(28),
    z: data.readDoubleLE(36),
    delta: data.readDoubleLE(44),
    score: flags & SCORED ? data.readDoubleLE(52) : null,
    source: flags & SCORED ? (flags & FALLBACK ? 'zscore' : 'forest') : null,
    anomaly: (flags & ANOMALY) !== 0,
    model: data.readUInt32LE(60),
    ref: data.subarray(refStart, refStart + refLen),
    original: data.subarray(refStart + refLen),
  };
}

/** The fields the detect stage and the trainer read, without decoding the rest. */
export function recordFeatures(data: Buffer): { ready: boolean; z: number; delta: number; std: number } {
  return {
    ready: (data[2]! & READY) !== 0,
    z: data.readDoubleLE(36),
    delta: data.readDoubleLE(44),
    std: data.readDoubleLE(28),
  };
}

/** What cep reads of a record, without the reference and original slices and the statistics it does not use. */
export function recordCepFields(data: Buffer): {
  type: string;
  value: number;
  time: number;
  score: number | null;
  anomaly: boolean;
  z: number | null;
} {
  const flags = data[2]!;
  return {
    type: data.toString('utf8', HEADER, HEADER + data[3]!),
    value: data.readDoubleLE(4),
    time: data.readDoubleLE(12),
    score: flags & SCORED ? data.readDoubleLE(52) : null,
    anomaly: (flags & ANOMALY) !== 0,
    z: flags & READY ? data.readDoubleLE(36) : null,
  };
}

/**
 * Writes the detection result into the record itself: the stage that scores a record owns it (a
 * fresh buffer from enrich, or its slice of the batch it read), and a copy per event was a
 * noticeable share of the garbage.
 */
export function writeScore(
  data: Buffer,
  score: number | null,
  anomaly: boolean,
  model: number,
  source: ScoreSource = 'forest',
): void {
  data[2] = (data[2]! & ~(SCORED | ANOMALY | FALLBACK)) | scoreFlags(score, anomaly, source);
  data.writeDoubleLE(score ?? 0, 52);
  data.writeUInt32LE(model, 60);
}
