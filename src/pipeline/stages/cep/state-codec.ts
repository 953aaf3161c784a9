import { z } from 'zod';
import { ByteReader, ByteWriter, isJsonEntry } from '../state-bytes.js';
import { cmpStr, type CepEvent } from './event.js';
import { lateNames, type CompiledRule, type KeyState } from './compiled-rule.js';
import type { Pending } from './lateness-buffer.js';

/**
 * The CEP engine's state as bytes: the binary entries of entry state, and the JSON of whole
 * snapshots and of the entries that earlier versions wrote, which still load.
 *
 * Binary entries (see state-bytes.ts):
 * - A rule's state of a key: u8 format | u8 flags (1: last alert) | u16 marks | u16 run |
 *   last alert (f64 time, str id) | marks (f64 time, str id)... | run (f64 time, str id, f64 value)...
 * - A chunk of pending events: u8 format | u32 count | events: str id, str key, f64 time, str type,
 *   f64 value, u8 flags (1 score, 2 anomaly given, 4 anomaly, 8 z) | f64 score | f64 z (when
 *   flagged) | u16 late count | str names of the rules it was late for...
 */

/** The version of the JSON state: whole snapshots and the counters entry. */
export const SNAPSHOT_VERSION = 1;

const markSchema = z.tuple([z.number(), z.string()]);
const keyStateSchema = z.object({
  m: z.array(markSchema).optional(),
  r: z.array(z.tuple([z.number(), z.string(), z.number()])).optional(),
  l: markSchema.optional(),
});
const snapshotSchema = z.object({
  v: z.literal(SNAPSHOT_VERSION),
  maxTime: z.number().nullable(),
  watermark: z.number().nullable(),
  duplicates: z.number().int().min(0),
  /** [id, key, time, type, value, score, anomaly, z, names of the rules it was late for] */
  pending: z.array(
    z.tuple([
      z.string(),
      z.string(),
      z.number(),
      z.string(),
      z.number(),
      z.number().nullable(),
      z.boolean().nullable(),
      z.number().nullable(),
      z.array(z.string()),
    ]),
  ),
  rules: z.record(
    z.string(),
    z.object({
      fp: z.string(),
      lateDropped: z.number().int().min(0),
      /** [key, { m: marks, r: run, l: last alert }] sorted by key */
      keys: z.array(z.tuple([z.string(), keyStateSchema])),
    }),
  ),
});
/** A whole snapshot of the engine's state. */
export type Snapshot = z.infer<typeof snapshotSchema>;
/** A pending event as a snapshot (and a chunk entry of an earlier version) holds it. */
export type PendingTuple = Snapshot['pending'][number];
/** A rule's state of a key as a snapshot (and a key entry of an earlier version) holds it. */
export type KeyStateJson = z.infer<typeof keyStateSchema>;

const metaSchema = z.object({
  v: z.literal(SNAPSHOT_VERSION),
  maxTime: z.number().nullable(),
  watermark: z.number().nullable(),
  duplicates: z.number().int().min(0),
  lateDropped: z.record(z.string(), z.number().int().min(0)),
  fps: z.record(z.string(), z.string()),
  nextChunk: z.number().int().min(0),
  /** The grid line of the last cap of the keys; absent in the counters of earlier versions. */
  capped: z.number().nullable().optional(),
});
/** The counters entry of entry state: the engine's clocks and counters and the rules' fingerprints. */
export type Meta = z.infer<typeof metaSchema>;
const chunkSchema = snapshotSchema.shape.pending;

const KEY_FORMAT = 1;
const CHUNK_FORMAT = 1;
const HAS_LAST = 1;
const HAS_SCORE = 1;
const HAS_ANOMALY = 2;
const ANOMALY = 4;
const HAS_Z = 8;

/** The first line of why a value did not parse: the first schema issue, or the error's message. */
function why(err: unknown): string | undefined {
  const issue = err instanceof z.ZodError ? err.issues[0] : undefined;
  return issue ? `${issue.path.join('.') || '(top level)'}: ${issue.message}` : (err as Error).message.split('\n')[0];
}

/**
 * A whole snapshot as canonical JSON (object keys sorted, arrays in a fixed order): equal states
 * give equal bytes. The objects are built with their keys in sorted order, so JSON.stringify writes
 * them canonically without a sorting pass (rule names start with a letter, so none is an
 * integer-like key that JavaScript would move to the front).
 */
export function encodeSnapshot(s: {
  maxTime: number | undefined;
  watermark: number | undefined;
  duplicates: number;
  rules: readonly CompiledRule[];
  /** The waiting events, in (time, id) order. */
  pending: readonly Pending[];
}): Buffer {
  const rules: Snapshot['rules'] = {};
  for (const r of [...s.rules].sort((a, b) => cmpStr(a.rule.name, b.rule.name))) {
    rules[r.rule.name] = {
      fp: r.fingerprint,
      keys: [...r.keys]
        .sort(([a], [b]) => cmpStr(a, b))
        .map(([key, st]) => [
          key,
          { l: st.last, m: st.marks.length ? st.marks : undefined, r: st.run.length ? st.run : undefined },
        ]),
      lateDropped: r.lateDropped,
    };
  }
  const snap: Snapshot = {
    duplicates: s.duplicates,
    maxTime: s.maxTime ?? null,
    pending: s.pending.map(({ e, skip }) => [
      e.id,
      e.key,
      e.time,
      e.type,
      e.value,
      e.score ?? null,
      e.anomaly ?? null,
      e.z ?? null,
      lateNames(s.rules, skip),
    ]),
    rules,
    v: SNAPSHOT_VERSION,
    watermark: s.watermark ?? null,
  };
  return Buffer.from(JSON.stringify(snap));
}

/**
 * Parses a whole snapshot.
 * @throws Error when it is not one this version wrote.
 */
export function parseSnapshot(buf: Buffer): Snapshot {
  try {
    return snapshotSchema.parse(JSON.parse(buf.toString('utf8')));
  } catch (err) {
    throw new Error(`cep: not a cep state snapshot (version ${SNAPSHOT_VERSION}): ${why(err)}`);
  }
}

/** An entry read by `decode`; any error names the entry. */
function readEntry<T>(name: string, entry: Buffer, decode: (entry: Buffer) => T): T {
  try {
    return decode(entry);
  } catch (err) {
    throw new Error(`cep: state entry "${name}" is not one of a cep engine (version ${SNAPSHOT_VERSION}): ${why(err)}`);
  }
}

function parseEntry<T>(name: string, entry: Buffer, schema: z.ZodType<T>): T {
  return readEntry(name, entry, (bytes) => schema.parse(JSON.parse(bytes.toString('utf8'))));
}

/**
 * Reads the counters entry `name`.
 * @throws Error naming the entry when it is not one this engine wrote.
 */
export function readMeta(name: string, entry: Buffer): Meta {
  return parseEntry(name, entry, metaSchema);
}

/**
 * Reads the key state entry `name`, binary or JSON.
 * @throws Error naming the entry when it is not one this engine wrote.
 */
export function readKeyState(name: string, entry: Buffer): KeyState {
  return isJsonEntry(entry)
    ? keyStateFromJson(parseEntry(name, entry, keyStateSchema))
    : readEntry(name, entry, decodeKeyState);
}

/**
 * Reads the chunk entry `name`, binary or JSON.
 * @throws Error naming the entry when it is not one this engine wrote.
 */
export function readChunk(name: string, entry: Buffer): PendingTuple[] {
  return isJsonEntry(entry) ? parseEntry(name, entry, chunkSchema) : readEntry(name, entry, decodeChunk);
}

/** A rule's state of a key from its JSON. */
export function keyStateFromJson(s: KeyStateJson): KeyState {
  return { marks: s.m ?? [], run: s.r ?? [], last: s.l };
}

/** A pending event from its tuple (the rules it was late for aside). */
export function tupleToEvent([id, key, time, type, value, score, anomaly, zScore]: PendingTuple): CepEvent {
  const e: CepEvent = { id, key, time, type, value };
  if (score !== null) e.score = score;
  if (anomaly !== null) e.anomaly = anomaly;
  if (zScore !== null) e.z = zScore;
  return e;
}

/** The binary entry of a rule's state of a key. */
export function encodeKeyState(st: KeyState, w: ByteWriter): Buffer {
  w.u8(KEY_FORMAT)
    .u8(st.last ? HAS_LAST : 0)
    .u16(st.marks.length)
    .u16(st.run.length);
  if (st.last) w.f64(st.last[0]).str(st.last[1]);
  for (const [t, id] of st.marks) w.f64(t).str(id);
  for (const [t, id, v] of st.run) w.f64(t).str(id).f64(v);
  return w.take();
}

function decodeKeyState(entry: Buffer): KeyState {
  const r = new ByteReader(entry);
  const format = r.u8();
  if (format !== KEY_FORMAT) throw new Error(`unknown format ${format}`);
  const flags = r.u8();
  const nm = r.u16();
  const nr = r.u16();
  const st: KeyState = { marks: [], run: [], last: undefined };
  if (flags & HAS_LAST) st.last = [r.f64(), r.str()];
  for (let i = 0; i < nm; i++) st.marks.push([r.f64(), r.str()]);
  for (let i = 0; i < nr; i++) st.run.push([r.f64(), r.str(), r.f64()]);
  r.end();
  return st;
}

/** Starts a chunk entry in `w`, which must be empty; `writePending` adds its events, `finishChunk` ends it. */
export function beginChunk(w: ByteWriter): void {
  w.u8(CHUNK_FORMAT).u32(0);
}

/** Appends one pending event to a chunk being written. */
export function writePending(w: ByteWriter, e: CepEvent, late: readonly string[]): void {
  w.str(e.id).str(e.key).f64(e.time).str(e.type).f64(e.value);
  const anomaly = e.anomaly === undefined ? 0 : HAS_ANOMALY | (e.anomaly ? ANOMALY : 0);
  w.u8((e.score !== undefined ? HAS_SCORE : 0) | anomaly | (e.z !== undefined ? HAS_Z : 0));
  if (e.score !== undefined) w.f64(e.score);
  if (e.z !== undefined) w.f64(e.z);
  w.u16(late.length);
  for (const name of late) w.str(name);
}

/** The chunk entry of the `count` events written since `beginChunk`; `w` starts over. */
export function finishChunk(w: ByteWriter, count: number): Buffer {
  w.setU32(1, count);
  return w.take();
}

function decodeChunk(entry: Buffer): PendingTuple[] {
  const r = new ByteReader(entry);
  const format = r.u8();
  if (format !== CHUNK_FORMAT) throw new Error(`unknown format ${format}`);
  const n = r.u32();
  const out: PendingTuple[] = [];
  for (let i = 0; i < n; i++) {
    const id = r.str();
    const key = r.str();
    const time = r.f64();
    const type = r.str();
    const value = r.f64();
    const flags = r.u8();
    const score = flags & HAS_SCORE ? r.f64() : null;
    const z = flags & HAS_Z ? r.f64() : null;
    const late: string[] = [];
    for (let k = r.u16(); k > 0; k--) late.push(r.str());
    out.push([id, key, time, type, value, score, flags & HAS_ANOMALY ? (flags & ANOMALY) !== 0 : null, z, late]);
  }
  r.end();
  return out;
}
