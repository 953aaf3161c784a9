import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { CepCondition, CepRule } from './rules.js';
import { ChunkHeap } from './chunk-heap.js';
import { ByteReader, ByteWriter, isJsonEntry } from '../state-bytes.js';

/**
 * The complex-event-processing engine of one partition: deterministic, event time only.
 *
 * Time model
 * - `maxTime` is the largest event time seen. An event is late for a rule when its time is below
 *   `maxTime - rule.lateness` (or below the watermark already passed): it is dropped for that rule and
 *   counted in `lateDropped`.
 * - The partition's watermark is `maxTime - max(lateness of all rules)`. Accepted events wait in a
 *   buffer until the watermark passes them, and are then evaluated in (time, id) order, interleaved
 *   with absence deadlines. So events that arrive out of order within their lateness give exactly the
 *   alerts (and the state) of an in-order run, and how the input is cut into batches changes nothing
 *   but which call returns an alert. The price: alerts come out once the watermark passes, i.e. the
 *   largest lateness behind the newest event time.
 * - Never the wall clock: the engine is a pure function of the events it was given.
 *
 * State is bounded per rule and key by what the rule needs (count: its last `min` matches inside the
 * window; sequence: the latest one or two first-events; trend: the current run, under `length`;
 * absence: the last-seen event), and is dropped as soon as the watermark makes it irrelevant; so a key
 * idle for longer than a rule's window, gap or cooldown holds nothing for it.
 */

/** An input event, already parsed by the caller. */
export interface CepEvent {
  /** Stable event identity, e.g. `producer:seq`: evidence in alerts, and the tie-break of equal times. */
  id: string;
  key: string;
  /** Event time, ms. */
  time: number;
  /** cpu | mem | latency | errors | ... */
  type: string;
  value: number;
  score?: number;
  anomaly?: boolean;
  z?: number;
}

export interface CepAlert {
  /** `rule|key|windowStart|windowEnd`: the same detection always has the same id. */
  id: string;
  rule: string;
  kind: CepRule['kind'];
  key: string;
  windowStart: number;
  windowEnd: number;
  /** Ids of the events that make the match, oldest first (absence: the last event seen). */
  evidence: string[];
  /** Event time of the detection: the completing event's time, or an absence's deadline. */
  time: number;
}

export interface CepStats {
  /** Largest event time seen. */
  maxTime: number | undefined;
  /** Event time up to which (exclusive) events have been evaluated. */
  watermark: number | undefined;
  /** Events waiting for the watermark. */
  pending: number;
  /** Rule+key states held. */
  states: number;
  /** Late events dropped, by rule name. */
  lateDropped: Record<string, number>;
  /** Events ignored because one with the same id and time was waiting already. */
  duplicates: number;
}

/** [time, event id] */
type Mark = [number, string];
/** [time, event id, value] */
type RunItem = [number, string, number];

/** What one rule keeps for one key. */
interface KeyState {
  /** count: the last ≤ min matches in the window; sequence: the latest ≤ 2 first-events (distinct times); absence: the last seen. */
  marks: Mark[];
  /** trend: the current strictly increasing run (shorter than `length`). */
  run: RunItem[];
  /** The last alert raised: its time and id (cooldown and de-duplication). */
  last: Mark | undefined;
}

type Matcher = (e: CepEvent) => boolean;

interface CompiledRule {
  rule: CepRule;
  index: number;
  fingerprint: string;
  match: Matcher;
  /** sequence: the second event's condition. */
  matchSecond: Matcher;
  keys: Map<string, KeyState>;
  lateDropped: number;
}

interface Pending {
  e: CepEvent;
  /** Indexes of the rules the event came too late for. */
  skip: number[];
}

interface Timer {
  due: number;
  rule: number;
  key: string;
  /** Its index in the heap. */
  at: number;
}

const NO_SKIP: number[] = [];
const NO_NAMES: string[] = [];
/** Event time between sweeps of expired state. */
const SWEEP_MS = 1000;
/** The last sweep grid line at or before `watermark`. */
function sweepLine(watermark: number): number {
  return Math.floor(watermark / SWEEP_MS) * SWEEP_MS;
}
/** What a released slot of the pending buffer holds until it is reclaimed. */
const RELEASED: Pending = { e: { id: '', key: '', time: -Infinity, type: '', value: 0 }, skip: NO_SKIP };

/** Code-unit order: the same everywhere, unlike localeCompare. */
function cmpStr(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function timerBefore(a: Timer, b: Timer): boolean {
  if (a.due !== b.due) return a.due < b.due;
  if (a.rule !== b.rule) return a.rule < b.rule;
  return a.key < b.key;
}

/** A min-heap of absence deadlines, at most one per rule+key, ordered by (due, rule, key). */
class TimerHeap {
  private items: Timer[] = [];
  /** Each rule's timers by key: a deadline moves on every event of its key, so finding it is on the hot path. */
  private byRule = new Map<number, Map<string, Timer>>();

  get size(): number {
    return this.items.length;
  }

  peek(): Timer | undefined {
    return this.items[0];
  }

  /** Adds or moves the deadline of rule+key. */
  set(rule: number, key: string, due: number): void {
    let keys = this.byRule.get(rule);
    if (!keys) this.byRule.set(rule, (keys = new Map()));
    const t = keys.get(key);
    if (t === undefined) {
      const added: Timer = { due, rule, key, at: this.items.length };
      keys.set(key, added);
      this.items.push(added);
      this.up(added.at);
      return;
    }
    t.due = due;
    this.down(this.up(t.at));
  }

  pop(): Timer | undefined {
    const top = this.items[0];
    if (!top) return undefined;
    this.byRule.get(top.rule)!.delete(top.key);
    const last = this.items.pop()!;
    if (this.items.length > 0) {
      this.items[0] = last;
      last.at = 0;
      this.down(0);
    }
    return top;
  }

  clear(): void {
    this.items = [];
    this.byRule.clear();
  }

  private swap(i: number, j: number): void {
    const a = this.items[i]!;
    const b = this.items[j]!;
    this.items[i] = b;
    this.items[j] = a;
    b.at = i;
    a.at = j;
  }

  private up(i: number): number {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!timerBefore(this.items[i]!, this.items[parent]!)) break;
      this.swap(i, parent);
      i = parent;
    }
    return i;
  }

  private down(i: number): void {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let min = i;
      if (l < this.items.length && timerBefore(this.items[l]!, this.items[min]!)) min = l;
      if (r < this.items.length && timerBefore(this.items[r]!, this.items[min]!)) min = r;
      if (min === i) return;
      this.swap(i, min);
      i = min;
    }
  }
}

function compare(x: number, op: NonNullable<CepCondition['op']>, y: number): boolean {
  switch (op) {
    case '>':
      return x > y;
    case '>=':
      return x >= y;
    case '<':
      return x < y;
    case '<=':
      return x <= y;
    case '==':
      return x === y;
    case '!=':
      return x !== y;
  }
}

/** A predicate for a list of conditions, all of which must hold (an empty list matches everything). */
export function compileConditions(conditions: readonly CepCondition[]): Matcher {
  const parts: Matcher[] = [];
  for (const c of conditions) {
    if (c.anomaly !== undefined) {
      const want = c.anomaly;
      parts.push((e) => (e.anomaly === true) === want);
    }
    if (c.type !== undefined) {
      const types = new Set(typeof c.type === 'string' ? [c.type] : c.type);
      parts.push((e) => types.has(e.type));
    }
    if (c.field !== undefined && c.op !== undefined && c.value !== undefined) {
      const { field, op, value } = c;
      parts.push((e) => {
        const x = e[field];
        return typeof x === 'number' && Number.isFinite(x) && compare(x, op, value);
      });
    }
  }
  // A loop, not parts.every(p => p(e)): that callback would be a new closure per event and rule.
  return (e) => {
    for (let i = 0; i < parts.length; i++) if (!parts[i]!(e)) return false;
    return true;
  };
}

/** JSON with object keys sorted at every level: the same value always gives the same bytes. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => cmpStr(a, b));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

function fingerprint(rule: CepRule): string {
  return createHash('sha256').update(canonicalJson(rule)).digest('hex').slice(0, 16);
}

function validEvent(e: unknown): string | undefined {
  if (typeof e !== 'object' || e === null) return 'not an object';
  const x = e as Record<string, unknown>;
  if (typeof x.id !== 'string' || x.id === '') return 'id must be a non-empty string';
  if (typeof x.key !== 'string') return 'key must be a string';
  if (typeof x.time !== 'number' || !Number.isFinite(x.time)) return 'time must be a finite number';
  if (typeof x.type !== 'string') return 'type must be a string';
  if (typeof x.value !== 'number' || !Number.isFinite(x.value)) return 'value must be a finite number';
  for (const f of ['score', 'z'] as const) {
    if (x[f] !== undefined && (typeof x[f] !== 'number' || !Number.isFinite(x[f])))
      return `${f} must be a finite number when present`;
  }
  if (x.anomaly !== undefined && typeof x.anomaly !== 'boolean') return 'anomaly must be a boolean when present';
  return undefined;
}

const SNAPSHOT_VERSION = 1;

const markSchema = z.tuple([z.number(), z.string()]);
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
      keys: z.array(
        z.tuple([
          z.string(),
          z.object({
            m: z.array(markSchema).optional(),
            r: z.array(z.tuple([z.number(), z.string(), z.number()])).optional(),
            l: markSchema.optional(),
          }),
        ]),
      ),
    }),
  ),
});
type Snapshot = z.infer<typeof snapshotSchema>;
type PendingTuple = Snapshot['pending'][number];

const metaSchema = z.object({
  v: z.literal(SNAPSHOT_VERSION),
  maxTime: z.number().nullable(),
  watermark: z.number().nullable(),
  duplicates: z.number().int().min(0),
  lateDropped: z.record(z.string(), z.number().int().min(0)),
  fps: z.record(z.string(), z.string()),
  nextChunk: z.number().int().min(0),
});
const keyStateSchema = z.object({
  m: z.array(markSchema).optional(),
  r: z.array(z.tuple([z.number(), z.string(), z.number()])).optional(),
  l: markSchema.optional(),
});
const chunkSchema = snapshotSchema.shape.pending;

/**
 * Binary entries (see state-bytes.ts); entries of earlier versions are JSON and still load.
 * - A rule's state of a key: u8 format | u8 flags (1: last alert) | u16 marks | u16 run |
 *   last alert (f64 time, str id) | marks (f64 time, str id)... | run (f64 time, str id, f64 value)...
 * - A chunk of pending events: u8 format | u32 count | events: str id, str key, f64 time, str type,
 *   f64 value, u8 flags (1 score, 2 anomaly given, 4 anomaly, 8 z) | f64 score | f64 z (when
 *   flagged) | u16 late count | str names of the rules it was late for...
 */
const KEY_FORMAT = 1;
const CHUNK_FORMAT = 1;
const HAS_LAST = 1;
const HAS_SCORE = 1;
const HAS_ANOMALY = 2;
const ANOMALY = 4;
const HAS_Z = 8;

function encodeKeyState(st: KeyState, w: ByteWriter): Buffer {
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

/** Appends one pending event to a chunk being written. */
function writePending(w: ByteWriter, e: CepEvent, late: readonly string[]): void {
  w.str(e.id).str(e.key).f64(e.time).str(e.type).f64(e.value);
  const anomaly = e.anomaly === undefined ? 0 : HAS_ANOMALY | (e.anomaly ? ANOMALY : 0);
  w.u8((e.score !== undefined ? HAS_SCORE : 0) | anomaly | (e.z !== undefined ? HAS_Z : 0));
  if (e.score !== undefined) w.f64(e.score);
  if (e.z !== undefined) w.f64(e.z);
  w.u16(late.length);
  for (const name of late) w.str(name);
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

/** Entry names of the entry state: `m` the engine's counters, `k:<rule>:<key>` a rule's state of a key, `p:<n>` a chunk of pending events. */
const META = 'm';

/** Deterministic complex event processing over one partition's events; see the module comment. */
export class CepEngine {
  private readonly rules: CompiledRule[];
  private readonly maxLateness: number;
  private maxTime: number | undefined;
  private watermark: number | undefined;
  /** Waiting events in (time, id) order; those before `head` are released. */
  private pending: Pending[] = [];
  private head = 0;
  /** The grid line of the last sweep (see `process`). */
  private swept: number | undefined;
  private timers = new TimerHeap();
  private duplicates = 0;
  /** Whether changes are tracked for entry state: from the first `load` or `changes` on. */
  private tracking = false;
  /** Entry state: rule+key states changed since the last `changes()`, by rule. */
  private dirty = new Map<CompiledRule, Set<string>>();
  /** Entry state: the events accepted by the current `process` call, written as a chunk entry. */
  private chunk = new ByteWriter(4096);
  private chunkEvents = 0;
  private chunkMax = -Infinity;
  /** Writes the rule+key state entries. */
  private readonly writer = new ByteWriter();
  /** Entry state: committed chunks of pending events, by number, with the largest event time in each. */
  private chunks = new ChunkHeap();
  private nextChunk = 0;
  private chunkWrites: [string, Buffer][] = [];
  /** Entry state: entries to delete at the next `changes()` (passed chunks, states of changed rules). */
  private deletes: string[] = [];
  /** The rules' fingerprints by name, for the counters entry written with every batch: they never change. */
  private readonly fps: Record<string, string>;

  constructor(rules: readonly CepRule[]) {
    const names = new Set<string>();
    this.rules = rules.map((rule, index) => {
      if (names.has(rule.name)) throw new Error(`cep: duplicate rule name "${rule.name}"`);
      names.add(rule.name);
      const never: Matcher = () => false;
      return {
        rule,
        index,
        fingerprint: fingerprint(rule),
        match: compileConditions(rule.kind === 'sequence' ? rule.first : rule.where),
        matchSecond: rule.kind === 'sequence' ? compileConditions(rule.second) : never,
        keys: new Map(),
        lateDropped: 0,
      };
    });
    this.maxLateness = rules.reduce((m, r) => Math.max(m, r.lateness), 0);
    this.fps = Object.fromEntries(this.rules.map((r) => [r.rule.name, r.fingerprint]));
  }

  /**
   * Takes a batch of events in arrival order; returns the alerts whose evidence the watermark has
   * now passed, in event-time order.
   * @param owned the events are the engine's to keep (made for this call, never touched again by
   *   the caller): they are held as they are instead of copied.
   * @throws TypeError, before changing any state, when an event is malformed.
   */
  process(events: readonly CepEvent[], owned = false): CepAlert[] {
    events.forEach((e, i) => {
      const problem = validEvent(e);
      if (problem)
        throw new TypeError(
          `cep: event ${i}${typeof (e as CepEvent | null)?.id === 'string' ? ` (${e.id})` : ''}: ${problem}`,
        );
    });
    for (const e of events) this.accept(e, owned);
    const alerts: CepAlert[] = [];
    if (this.maxTime === undefined) return alerts;
    const watermark = Math.max(this.watermark ?? -Infinity, this.maxTime - this.maxLateness);
    this.release(watermark, alerts);
    this.watermark = watermark;
    // Expired state is dropped once per SWEEP_MS of event time, at the grid line, not per batch: a
    // sweep visits every key of every rule. The grid makes the result independent of how the events
    // were cut into batches: by the time the watermark passes a line, every event before it has
    // been evaluated in any cut, and the events after it cannot expire anything before it.
    const line = sweepLine(watermark);
    if (this.swept === undefined || line > this.swept) {
      this.sweep(line);
      this.swept = line;
    }
    this.closeChunk(watermark);
    return alerts;
  }

  /**
   * Entry state: the events accepted by this call become one chunk entry, unless the watermark has
   * passed them all already; chunks whose events it has all passed are dropped. What is pending is
   * exactly the chunks' events at or after the watermark (an accepted event is never below it, and
   * leaves the buffer only when the watermark passes it), so a chunk never needs rewriting.
   */
  private closeChunk(watermark: number): void {
    if (!this.tracking) return;
    if (this.chunkEvents > 0) {
      this.chunk.setU32(1, this.chunkEvents);
      const entry = this.chunk.take();
      if (this.chunkMax >= watermark) {
        const n = this.nextChunk++;
        this.chunks.add(n, this.chunkMax);
        this.chunkWrites.push([`p:${n}`, entry]);
      }
      this.chunkEvents = 0;
      this.chunkMax = -Infinity;
    }
    this.chunks.popBelow(watermark, (n) => this.deletes.push(`p:${n}`));
  }

  /**
   * The entry state changed since the last call (or `load`): the counters, the rule+key states
   * touched, new chunks of pending events and the chunks the watermark has passed.
   */
  changes(): { set: [string, Buffer | string][]; del: string[] } {
    if (!this.tracking) {
      // The first call: everything there is counts as changed.
      this.tracking = true;
      for (const r of this.rules) for (const key of r.keys.keys()) this.touch(r, key);
      if (this.live() > 0) {
        for (let i = this.head; i < this.pending.length; i++)
          this.addToChunk(this.pending[i]!.e, this.pending[i]!.skip);
        this.closeChunk(-Infinity);
      }
    }
    const set: [string, Buffer | string][] = [[META, JSON.stringify(this.meta())], ...this.chunkWrites];
    const del = this.deletes;
    for (const [r, keys] of this.dirty) {
      for (const key of keys) {
        const st = r.keys.get(key);
        const name = `k:${r.rule.name}:${key}`;
        if (st) set.push([name, encodeKeyState(st, this.writer)]);
        else del.push(name);
      }
    }
    this.dirty = new Map();
    this.chunkWrites = [];
    this.deletes = [];
    return { set, del };
  }

  private meta(): z.infer<typeof metaSchema> {
    return {
      v: SNAPSHOT_VERSION,
      maxTime: this.maxTime ?? null,
      watermark: this.watermark ?? null,
      duplicates: this.duplicates,
      lateDropped: Object.fromEntries(this.rules.map((r) => [r.rule.name, r.lateDropped])),
      fps: this.fps,
      nextChunk: this.nextChunk,
    };
  }

  /**
   * Replaces the state with committed entries (undefined: a fresh start). As with `restore`, the
   * state of a rule whose definition changed is dropped (and its entries deleted at the next
   * `changes()`), its lateDropped count kept.
   * @throws Error when an entry is not one this engine wrote.
   */
  load(entries: Map<string, Buffer> | undefined): void {
    this.reset();
    this.tracking = true;
    if (!entries || entries.size === 0) return;
    /** An entry read by `decode`; any error names the entry. */
    const read = <T>(name: string, decode: (entry: Buffer) => T): T => {
      try {
        return decode(entries.get(name)!);
      } catch (err) {
        const issue = err instanceof z.ZodError ? err.issues[0] : undefined;
        const why = issue
          ? `${issue.path.join('.') || '(top level)'}: ${issue.message}`
          : (err as Error).message.split('\n')[0];
        throw new Error(`cep: state entry "${name}" is not one of a cep engine (version ${SNAPSHOT_VERSION}): ${why}`);
      }
    };
    const parse = <T>(name: string, schema: z.ZodType<T>): T =>
      read(name, (entry) => schema.parse(JSON.parse(entry.toString('utf8'))));
    if (!entries.has(META)) throw new Error(`cep: state entries without "${META}"`);
    const meta = parse(META, metaSchema);
    this.maxTime = meta.maxTime ?? undefined;
    this.watermark = meta.watermark ?? undefined;
    this.swept = this.watermark === undefined ? undefined : sweepLine(this.watermark);
    this.duplicates = meta.duplicates;
    this.nextChunk = meta.nextChunk;
    const byName = new Map(this.rules.map((r) => [r.rule.name, r]));
    for (const r of this.rules) r.lateDropped = meta.lateDropped[r.rule.name] ?? 0;
    const chunks: [number, PendingTuple[]][] = [];
    for (const name of entries.keys()) {
      if (name.startsWith('k:')) {
        const at = name.indexOf(':', 2);
        const r = byName.get(name.slice(2, at));
        const key = name.slice(at + 1);
        if (!r || meta.fps[r.rule.name] !== r.fingerprint) {
          // A rule removed or changed: its old state goes.
          this.deletes.push(name);
          continue;
        }
        let st: KeyState;
        if (isJsonEntry(entries.get(name)!)) {
          const saved = parse(name, keyStateSchema);
          st = { marks: saved.m ?? [], run: saved.r ?? [], last: saved.l };
        } else st = read(name, decodeKeyState);
        r.keys.set(key, st);
        const seen = st.marks[0];
        if (r.rule.kind === 'absence' && seen) this.timers.set(r.index, key, seen[0] + r.rule.window);
      } else if (name.startsWith('p:')) {
        chunks.push([
          Number(name.slice(2)),
          isJsonEntry(entries.get(name)!) ? parse(name, chunkSchema) : read(name, decodeChunk),
        ]);
      } else if (name !== META) {
        throw new Error(`cep: unknown state entry "${name}"`);
      }
    }
    const watermark = this.watermark ?? -Infinity;
    for (const [n, tuples] of chunks.sort((a, b) => a[0] - b[0])) {
      let max = -Infinity;
      for (const t of tuples) {
        if (t[2] > max) max = t[2];
        if (t[2] >= watermark) this.pushPending(t, byName);
      }
      this.chunks.add(n, max);
    }
  }

  private pushPending(
    [id, key, time, type, value, score, anomaly, zScore, late]: PendingTuple,
    byName: Map<string, CompiledRule>,
  ): void {
    const e: CepEvent = { id, key, time, type, value };
    if (score !== null) e.score = score;
    if (anomaly !== null) e.anomaly = anomaly;
    if (zScore !== null) e.z = zScore;
    const skip = late.flatMap((n) => {
      const r = byName.get(n);
      return r ? [r.index] : [];
    });
    this.insert(this.place(e.time, e.id), { e, skip });
  }

  private accept(e: CepEvent, owned: boolean): void {
    if (this.maxTime === undefined || e.time > this.maxTime) this.maxTime = e.time;
    // Almost every event is late for no rule: they share one empty list instead of one each.
    let skip: number[] = NO_SKIP;
    for (const r of this.rules) {
      const floor = Math.max(this.maxTime - r.rule.lateness, this.watermark ?? -Infinity);
      if (e.time < floor) {
        r.lateDropped++;
        if (skip === NO_SKIP) skip = [];
        skip.push(r.index);
      }
    }
    if (skip.length === this.rules.length) return;
    const at = this.place(e.time, e.id);
    if (at < 0) {
      this.duplicates++;
      return;
    }
    // Unless owned, a copy: the caller may reuse its objects, and the snapshot holds only these fields.
    let copy = e;
    if (!owned) {
      copy = { id: e.id, key: e.key, time: e.time, type: e.type, value: e.value };
      if (e.score !== undefined) copy.score = e.score;
      if (e.anomaly !== undefined) copy.anomaly = e.anomaly;
      if (e.z !== undefined) copy.z = e.z;
    }
    this.insert(at, { e: copy, skip });
    if (this.tracking) this.addToChunk(copy, skip);
  }

  /** Entry state: writes an accepted event into the chunk of the current call. */
  private addToChunk(e: CepEvent, skip: number[]): void {
    if (this.chunkEvents === 0) this.chunk.u8(CHUNK_FORMAT).u32(0);
    writePending(this.chunk, e, skip.length === 0 ? NO_NAMES : skip.map((i) => this.rules[i]!.rule.name).sort(cmpStr));
    this.chunkEvents++;
    if (e.time > this.chunkMax) this.chunkMax = e.time;
  }

  /** Evaluates the waiting events with time < watermark in (time, id) order, with absence deadlines between them. */
  private release(watermark: number, alerts: CepAlert[]): void {
    const pending = this.pending;
    for (; this.head < pending.length && pending[this.head]!.e.time < watermark; this.head++) {
      const p = pending[this.head]!;
      // Released entries are not held: the slots before `head` are reclaimed in bulk below.
      pending[this.head] = RELEASED;
      this.fireTimers(p.e.time, alerts);
      for (const r of this.rules) {
        if (p.skip.length > 0 && p.skip.includes(r.index)) continue;
        this.evaluate(r, p.e, alerts);
      }
    }
    this.fireTimers(watermark, alerts);
    if (this.head > 1024 && this.head * 2 > pending.length) {
      this.pending = pending.slice(this.head);
      this.head = 0;
    }
  }

  /** Puts an event at the index `place` gave (nothing for -1, a repeat). */
  private insert(at: number, p: Pending): void {
    if (at === this.pending.length) this.pending.push(p);
    else if (at >= 0) this.pending.splice(at, 0, p);
  }

  /** Events waiting for the watermark. */
  private live(): number {
    return this.pending.length - this.head;
  }

  /**
   * Where an event goes in the waiting events, kept in (time, id) order as they come so that a
   * batch releases a prefix without sorting the whole buffer (it holds the last `lateness` of
   * events: thousands). Events come almost in time order, so the place is nearly always the end;
   * equal (time, id) would go after the ones there, as a stable sort puts them.
   * @returns the index, or -1 when an event with the same (time, id) is waiting (a repeat).
   */
  private place(time: number, id: string): number {
    const pending = this.pending;
    const after = (a: Pending) => a.e.time > time || (a.e.time === time && cmpStr(a.e.id, id) > 0);
    let lo = pending.length;
    if (lo > this.head && after(pending[lo - 1]!)) {
      lo = this.head;
      let hi = pending.length - 1;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (after(pending[mid]!)) hi = mid;
        else lo = mid + 1;
      }
    }
    const prev = lo > this.head ? pending[lo - 1]!.e : undefined;
    return prev && prev.time === time && prev.id === id ? -1 : lo;
  }

  /** Fires the absence deadlines before `limit`: no event can arrive any more at or before them. */
  private fireTimers(limit: number, alerts: CepAlert[]): void {
    for (let t = this.timers.peek(); t && t.due < limit; t = this.timers.peek()) {
      this.timers.pop();
      const r = this.rules[t.rule]!;
      const st = r.keys.get(t.key);
      const seen = st?.marks[0];
      if (!st || !seen) continue;
      this.touch(r, t.key);
      st.marks = [];
      this.emit(r, st, t.key, seen[0], t.due, [seen[1]], t.due, alerts);
    }
  }

  private state(r: CompiledRule, key: string): KeyState {
    let st = r.keys.get(key);
    if (!st) r.keys.set(key, (st = { marks: [], run: [], last: undefined }));
    this.touch(r, key);
    return st;
  }

  private touch(r: CompiledRule, key: string): void {
    if (!this.tracking) return;
    let keys = this.dirty.get(r);
    if (!keys) this.dirty.set(r, (keys = new Set()));
    keys.add(key);
  }

  private evaluate(r: CompiledRule, e: CepEvent, alerts: CepAlert[]): void {
    const rule = r.rule;
    switch (rule.kind) {
      case 'count': {
        if (!r.match(e)) return;
        const st = this.state(r, e.key);
        st.marks.push([e.time, e.id]);
        while (st.marks.length > rule.min || st.marks[0]![0] < e.time - rule.window) st.marks.shift();
        if (st.marks.length >= rule.min) {
          this.emit(
            r,
            st,
            e.key,
            st.marks[0]![0],
            e.time,
            st.marks.map((m) => m[1]),
            e.time,
            alerts,
          );
        }
        return;
      }
      case 'sequence': {
        const second = r.matchSecond(e);
        const first = r.match(e);
        if (!second && !first) return;
        const st = this.state(r, e.key);
        if (second) {
          // The latest first-event strictly before this one; marks hold at most two, of distinct times.
          let a: Mark | undefined;
          for (const m of st.marks) if (m[0] < e.time) a = m;
          if (a && e.time - a[0] <= rule.within) {
            // Matched first-events are used up: one per second-event.
            st.marks = st.marks.filter((m) => m[0] >= e.time);
            this.emit(r, st, e.key, a[0], e.time, [a[1], e.id], e.time, alerts);
          }
        }
        if (first) {
          const latest = st.marks[st.marks.length - 1];
          if (latest && latest[0] === e.time) st.marks[st.marks.length - 1] = [e.time, e.id];
          else st.marks = [...st.marks.slice(-1), [e.time, e.id]];
        }
        return;
      }
      case 'trend': {
        if (!r.match(e)) return;
        const v = e[rule.field];
        if (typeof v !== 'number' || !Number.isFinite(v)) return;
        const st = this.state(r, e.key);
        const last = st.run[st.run.length - 1];
        if (last && v > last[2] && e.time - last[0] <= rule.maxGap) st.run.push([e.time, e.id, v]);
        else st.run = [[e.time, e.id, v]];
        if (st.run.length >= rule.length) {
          const run = st.run;
          // The run restarts: the next alert needs `length` new increasing values.
          st.run = [];
          this.emit(
            r,
            st,
            e.key,
            run[0]![0],
            e.time,
            run.map((x) => x[1]),
            e.time,
            alerts,
          );
        }
        return;
      }
      case 'absence': {
        if (!r.match(e)) return;
        const st = this.state(r, e.key);
        // Every event of a key moves its mark: written in place rather than a new one per event.
        const seen = st.marks.length === 1 ? st.marks[0]! : undefined;
        if (seen) {
          seen[0] = e.time;
          seen[1] = e.id;
        } else st.marks = [[e.time, e.id]];
        this.timers.set(r.index, e.key, e.time + rule.window);
        return;
      }
    }
  }

  private emit(
    r: CompiledRule,
    st: KeyState,
    key: string,
    windowStart: number,
    windowEnd: number,
    evidence: string[],
    time: number,
    alerts: CepAlert[],
  ): void {
    const id = `${r.rule.name}|${key}|${windowStart}|${windowEnd}`;
    if (st.last && (st.last[1] === id || time < st.last[0] + r.rule.cooldown)) return;
    st.last = [time, id];
    alerts.push({ id, rule: r.rule.name, kind: r.rule.kind, key, windowStart, windowEnd, evidence, time });
  }

  /**
   * Drops what no future event can use. Every later evaluation is of an event at or after the
   * watermark, and every later alert is at or after it, so this changes no output, and the state
   * after a batch depends on the events only, not on how they were cut into batches.
   */
  private sweep(watermark: number): void {
    for (const r of this.rules) {
      const rule = r.rule;
      for (const [key, st] of r.keys) {
        const before = st.marks.length + st.run.length + (st.last ? 1 : 0);
        if (rule.kind === 'count') {
          while (st.marks.length > 0 && st.marks[0]![0] < watermark - rule.window) st.marks.shift();
        } else if (rule.kind === 'sequence') {
          const floor = watermark - rule.within;
          // Most keys have nothing to drop: no new array for them.
          if (st.marks.some((m) => m[0] < floor)) st.marks = st.marks.filter((m) => m[0] >= floor);
        } else if (rule.kind === 'trend') {
          const last = st.run[st.run.length - 1];
          if (last && watermark - last[0] > rule.maxGap) st.run = [];
        }
        if (st.last && watermark > st.last[0] && watermark >= st.last[0] + rule.cooldown) st.last = undefined;
        if (st.marks.length + st.run.length + (st.last ? 1 : 0) !== before) this.touch(r, key);
        if (st.marks.length === 0 && st.run.length === 0 && !st.last) {
          r.keys.delete(key);
          this.touch(r, key);
        }
      }
    }
  }

  stats(): CepStats {
    return {
      maxTime: this.maxTime,
      watermark: this.watermark,
      pending: this.live(),
      states: this.rules.reduce((n, r) => n + r.keys.size, 0),
      lateDropped: Object.fromEntries(this.rules.map((r) => [r.rule.name, r.lateDropped])),
      duplicates: this.duplicates,
    };
  }

  /**
   * The partition state as canonical JSON (object keys sorted, arrays in a fixed order): equal states
   * give equal bytes. The objects are built with their keys in sorted order, so JSON.stringify writes
   * them canonically without a sorting pass (rule names start with a letter, so none is an
   * integer-like key that JavaScript would move to the front).
   */
  snapshot(): Buffer {
    const names = (skip: number[]) => skip.map((i) => this.rules[i]!.rule.name).sort(cmpStr);
    const rules: Snapshot['rules'] = {};
    for (const r of [...this.rules].sort((a, b) => cmpStr(a.rule.name, b.rule.name))) {
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
      duplicates: this.duplicates,
      maxTime: this.maxTime ?? null,
      pending: this.pending
        .slice(this.head)
        .map(({ e, skip }) => [
          e.id,
          e.key,
          e.time,
          e.type,
          e.value,
          e.score ?? null,
          e.anomaly ?? null,
          e.z ?? null,
          names(skip),
        ]),
      rules,
      v: SNAPSHOT_VERSION,
      watermark: this.watermark ?? null,
    };
    return Buffer.from(JSON.stringify(snap));
  }

  /**
   * Replaces the state with a snapshot's (undefined or empty: a fresh start). The state of a rule
   * whose definition changed since the snapshot is dropped; its lateDropped count is kept.
   * @throws Error when the snapshot is not one this engine wrote.
   */
  restore(buf: Buffer | undefined): void {
    this.reset();
    if (!buf || buf.length === 0) return;
    let snap: Snapshot;
    try {
      snap = snapshotSchema.parse(JSON.parse(buf.toString('utf8')));
    } catch (err) {
      const issue = err instanceof z.ZodError ? err.issues[0] : undefined;
      const why = issue
        ? `${issue.path.join('.') || '(top level)'}: ${issue.message}`
        : (err as Error).message.split('\n')[0];
      throw new Error(`cep: not a cep state snapshot (version ${SNAPSHOT_VERSION}): ${why}`);
    }
    this.maxTime = snap.maxTime ?? undefined;
    this.watermark = snap.watermark ?? undefined;
    this.swept = this.watermark === undefined ? undefined : sweepLine(this.watermark);
    this.duplicates = snap.duplicates;
    const byName = new Map(this.rules.map((r) => [r.rule.name, r]));
    for (const [name, saved] of Object.entries(snap.rules)) {
      const r = byName.get(name);
      if (!r) continue;
      r.lateDropped = saved.lateDropped;
      if (saved.fp !== r.fingerprint) continue;
      for (const [key, s] of saved.keys) {
        const st: KeyState = { marks: s.m ?? [], run: s.r ?? [], last: s.l };
        r.keys.set(key, st);
        const seen = st.marks[0];
        if (r.rule.kind === 'absence' && seen) this.timers.set(r.index, key, seen[0] + r.rule.window);
      }
    }
    for (const t of snap.pending) this.pushPending(t, byName);
  }

  private reset(): void {
    this.maxTime = undefined;
    this.watermark = undefined;
    this.pending = [];
    this.head = 0;
    this.swept = undefined;
    this.timers.clear();
    this.duplicates = 0;
    this.tracking = false;
    this.dirty = new Map();
    this.chunk.take();
    this.chunkEvents = 0;
    this.chunkMax = -Infinity;
    this.chunks.clear();
    this.nextChunk = 0;
    this.chunkWrites = [];
    this.deletes = [];
    for (const r of this.rules) {
      r.keys.clear();
      r.lateDropped = 0;
    }
  }
}
