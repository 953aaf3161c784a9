import type { CepRule } from './rules.js';
import { ByteWriter } from '../state-bytes.js';
import { checkEvents, cmpStr, type CepAlert, type CepEvent } from './event.js';
import { compileRules, lateNames, type CompiledRule, type KeyState, type Mark } from './compiled-rule.js';
import { TimerHeap } from './timer-heap.js';
import { LatenessBuffer, NO_SKIP } from './lateness-buffer.js';
import { CHUNK_PREFIX, PendingChunks } from './pending-chunks.js';
import {
  SNAPSHOT_VERSION,
  encodeKeyState,
  encodeSnapshot,
  keyStateFromJson,
  parseSnapshot,
  readChunk,
  readKeyState,
  readMeta,
  tupleToEvent,
  type Meta,
  type PendingTuple,
} from './state-codec.js';

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
 *
 * Keys are also capped (`maxKeys`): when an event about to be evaluated crosses a new SWEEP_MS grid
 * line, expired state is swept at that line and, while more than `maxKeys` keys hold state, the key
 * seen least recently (the largest time in its states, ties by key) loses its state in every rule.
 * Not at the end of a batch: there the state holds the events up to the watermark, which depends on
 * the cut, while before an event it holds exactly the events and deadlines before it, in any cut.
 * The grid line of the last cap is kept in the counters entry, so a restart caps where the run before
 * it would have; counters of earlier versions lack it and count as capped at the watermark's line.
 */

/** The engine's clocks and counters. */
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

/** Event time between sweeps of expired state. */
const SWEEP_MS = 1000;
/** The last sweep grid line at or before `watermark`. */
function sweepLine(watermark: number): number {
  return Math.floor(watermark / SWEEP_MS) * SWEEP_MS;
}

/** Entry names of the entry state: `m` the engine's counters, `k:<rule>:<key>` a rule's state of a key, `p:<n>` a chunk of pending events. */
const META = 'm';

/** Deterministic complex event processing over one partition's events; see the module comment. */
export class CepEngine {
  private readonly rules: CompiledRule[];
  private readonly maxLateness: number;
  private maxTime: number | undefined;
  private watermark: number | undefined;
  private readonly buffer = new LatenessBuffer();
  /** The grid line of the last sweep (see `process`). */
  private swept: number | undefined;
  /** The grid line of the last cap of the keys (see the module comment). */
  private capped: number | undefined;
  private timers = new TimerHeap();
  private duplicates = 0;
  /** Whether changes are tracked for entry state: from the first `load` or `changes` on. */
  private tracking = false;
  /** Entry state: rule+key states changed since the last `changes()`, by rule. */
  private dirty = new Map<CompiledRule, Set<string>>();
  /** Entry state: the waiting events as chunk entries. */
  private readonly pendingChunks = new PendingChunks();
  /** Writes the rule+key state entries. */
  private readonly writer = new ByteWriter();
  /** Entry state: entries to delete at the next `changes()` (passed chunks, states of changed rules). */
  private deletes: string[] = [];
  /** The rules' fingerprints by name, for the counters entry written with every batch: they never change. */
  private readonly fps: Record<string, string>;

  /** Keys holding state at most, checked at each sweep. */
  private readonly maxKeys: number;

  /** @param options.maxKeys keys holding state at most (default: no cap), see the module comment */
  constructor(rules: readonly CepRule[], options: { maxKeys?: number } = {}) {
    this.rules = compileRules(rules);
    this.maxKeys = options.maxKeys ?? Infinity;
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
    checkEvents(events);
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
    if (this.tracking) this.pendingChunks.close(watermark, this.deletes);
    return alerts;
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
      if (this.buffer.size > 0) {
        for (const p of this.buffer.waiting()) this.pendingChunks.add(p.e, lateNames(this.rules, p.skip));
        this.pendingChunks.close(-Infinity, this.deletes);
      }
    }
    const set: [string, Buffer | string][] = [[META, JSON.stringify(this.meta())], ...this.pendingChunks.takeWrites()];
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
    this.deletes = [];
    return { set, del };
  }

  private meta(): Meta {
    return {
      v: SNAPSHOT_VERSION,
      maxTime: this.maxTime ?? null,
      watermark: this.watermark ?? null,
      duplicates: this.duplicates,
      lateDropped: Object.fromEntries(this.rules.map((r) => [r.rule.name, r.lateDropped])),
      fps: this.fps,
      nextChunk: this.pendingChunks.next,
      capped: this.capped ?? null,
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
    if (!entries.has(META)) throw new Error(`cep: state entries without "${META}"`);
    const meta = readMeta(META, entries.get(META)!);
    this.maxTime = meta.maxTime ?? undefined;
    this.watermark = meta.watermark ?? undefined;
    this.swept = this.watermark === undefined ? undefined : sweepLine(this.watermark);
    this.capped = meta.capped === undefined ? this.swept : (meta.capped ?? undefined);
    this.duplicates = meta.duplicates;
    this.pendingChunks.next = meta.nextChunk;
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
        const st = readKeyState(name, entries.get(name)!);
        r.keys.set(key, st);
        const seen = st.marks[0];
        if (r.rule.kind === 'absence' && seen) this.timers.set(r.index, key, seen[0] + r.rule.window);
      } else if (name.startsWith(CHUNK_PREFIX)) {
        chunks.push([Number(name.slice(CHUNK_PREFIX.length)), readChunk(name, entries.get(name)!)]);
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
      this.pendingChunks.loaded(n, max);
    }
  }

  /** Puts back a pending event of a snapshot or chunk entry. */
  private pushPending(t: PendingTuple, byName: Map<string, CompiledRule>): void {
    const e = tupleToEvent(t);
    const skip = t[8].flatMap((n) => {
      const r = byName.get(n);
      return r ? [r.index] : [];
    });
    this.buffer.insert(this.buffer.place(e.time, e.id), { e, skip });
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
    const at = this.buffer.place(e.time, e.id);
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
    this.buffer.insert(at, { e: copy, skip });
    if (this.tracking) this.pendingChunks.add(copy, lateNames(this.rules, skip));
  }

  /** Evaluates the waiting events with time < watermark in (time, id) order, with absence deadlines between them. */
  private release(watermark: number, alerts: CepAlert[]): void {
    for (let p = this.buffer.takeBefore(watermark); p; p = this.buffer.takeBefore(watermark)) {
      this.fireTimers(p.e.time, alerts);
      if (this.maxKeys < Infinity) {
        const line = sweepLine(p.e.time);
        if (this.capped === undefined || line > this.capped) {
          this.sweep(line);
          this.cap();
          this.capped = line;
        }
      }
      for (const r of this.rules) {
        if (p.skip.length > 0 && p.skip.includes(r.index)) continue;
        this.evaluate(r, p.e, alerts);
      }
    }
    this.fireTimers(watermark, alerts);
    this.buffer.compact();
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

  /** Drops the state of the keys seen least recently while more than `maxKeys` keys hold some (see the module comment). */
  private cap(): void {
    const latest = new Map<string, number>();
    for (const r of this.rules) for (const key of r.keys.keys()) latest.set(key, -Infinity);
    if (latest.size <= this.maxKeys) return;
    for (const r of this.rules) {
      for (const [key, st] of r.keys) {
        let t = latest.get(key)!;
        for (const m of st.marks) if (m[0] > t) t = m[0];
        for (const x of st.run) if (x[0] > t) t = x[0];
        if (st.last && st.last[0] > t) t = st.last[0];
        latest.set(key, t);
      }
    }
    const order = [...latest].sort((a, b) => a[1] - b[1] || cmpStr(a[0], b[0]));
    for (const [key] of order.slice(0, order.length - this.maxKeys)) {
      for (const r of this.rules) {
        if (!r.keys.delete(key)) continue;
        this.touch(r, key);
        // A deadline left in the heap would hold memory for each dropped key until it came due.
        if (r.rule.kind === 'absence') this.timers.remove(r.index, key);
      }
    }
  }

  stats(): CepStats {
    return {
      maxTime: this.maxTime,
      watermark: this.watermark,
      pending: this.buffer.size,
      states: this.rules.reduce((n, r) => n + r.keys.size, 0),
      lateDropped: Object.fromEntries(this.rules.map((r) => [r.rule.name, r.lateDropped])),
      duplicates: this.duplicates,
    };
  }

  /** The partition state as canonical JSON: equal states give equal bytes. */
  snapshot(): Buffer {
    return encodeSnapshot({
      maxTime: this.maxTime,
      watermark: this.watermark,
      duplicates: this.duplicates,
      rules: this.rules,
      pending: this.buffer.waiting(),
    });
  }

  /**
   * Replaces the state with a snapshot's (undefined or empty: a fresh start). The state of a rule
   * whose definition changed since the snapshot is dropped; its lateDropped count is kept.
   * @throws Error when the snapshot is not one this engine wrote.
   */
  restore(buf: Buffer | undefined): void {
    this.reset();
    if (!buf || buf.length === 0) return;
    const snap = parseSnapshot(buf);
    this.maxTime = snap.maxTime ?? undefined;
    this.watermark = snap.watermark ?? undefined;
    this.swept = this.watermark === undefined ? undefined : sweepLine(this.watermark);
    // Snapshots do not hold the cap's line: as for counters of earlier versions.
    this.capped = this.swept;
    this.duplicates = snap.duplicates;
    const byName = new Map(this.rules.map((r) => [r.rule.name, r]));
    for (const [name, saved] of Object.entries(snap.rules)) {
      const r = byName.get(name);
      if (!r) continue;
      r.lateDropped = saved.lateDropped;
      if (saved.fp !== r.fingerprint) continue;
      for (const [key, s] of saved.keys) {
        const st = keyStateFromJson(s);
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
    this.buffer.clear();
    this.swept = undefined;
    this.capped = undefined;
    this.timers.clear();
    this.duplicates = 0;
    this.tracking = false;
    this.dirty = new Map();
    this.pendingChunks.clear();
    this.deletes = [];
    for (const r of this.rules) {
      r.keys.clear();
      r.lateDropped = 0;
    }
  }
}
