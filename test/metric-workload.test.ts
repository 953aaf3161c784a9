import { describe, expect, it } from 'vitest';
import { metricWorkload, parseTruth, type MetricEvent } from '../src/workload/metric-workload.js';
import type { EventSource } from '../src/workload/event-source.js';

// The documented model (the comment of metric-workload.ts): what the generator is checked against.
/** Event time of the first event. */
const T0 = 1_700_000_000_000;
const TYPES = ['cpu', 'mem', 'latency', 'errors'];
const KINDS = ['spike', 'drop', 'level_shift', 'error_burst'];
/** Events of a level_shift episode that are labelled. */
const LEVEL_SHIFT_LABELLED = 3;

interface Parsed {
  key: string;
  type: string;
  value: number;
  time: number;
  truth: { anomaly: boolean; kind?: string; episode?: number };
}

function take(n: number, opts: Parameters<typeof metricWorkload>[0]): MetricEvent[] {
  const w = metricWorkload(opts);
  return Array.from({ length: n }, () => w.next());
}

const parse = (e: MetricEvent): Parsed => JSON.parse(e.data.toString('utf8')) as Parsed;

function meanStd(xs: number[]): { mean: number; std: number } {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const variance = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1);
  return { mean, std: Math.sqrt(variance) };
}

describe('metricWorkload', () => {
  it('is an EventSource: next() gives a key and a Buffer', async () => {
    const w: EventSource = metricWorkload({ keys: 10, seed: 1, anomalyRate: 0.01 });
    const e = await w.next();
    expect(typeof e?.key).toBe('string');
    expect(Buffer.isBuffer(e?.data)).toBe(true);
  });

  it('gives byte-identical events for the same seed, and different ones for another seed', () => {
    const opts = { keys: 100, seed: 42, anomalyRate: 0.05 };
    const a = take(10_000, opts);
    const b = take(10_000, opts);
    expect(Buffer.concat(b.map((e) => e.data)).equals(Buffer.concat(a.map((e) => e.data)))).toBe(true);
    expect(b.map((e) => e.key)).toEqual(a.map((e) => e.key));
    expect(b.map((e) => e.truth)).toEqual(a.map((e) => e.truth));
    const c = take(10_000, { ...opts, seed: 43 });
    expect(Buffer.concat(c.map((e) => e.data)).equals(Buffer.concat(a.map((e) => e.data)))).toBe(false);
    const differing = c.filter((e, i) => !e.data.equals(a[i]!.data)).length;
    expect(differing).toBeGreaterThan(9_000);
  });

  it('writes valid JSON with every field, consistent with what next() returns', () => {
    const events = take(50_000, { keys: 200, seed: 3, anomalyRate: 0.05 });
    const typeOf = new Map<string, string>();
    // Checked without an expect per event (50,000 events), reporting the first problems.
    const problems: string[] = [];
    const check = (ok: boolean, what: string, i: number, e: MetricEvent) => {
      if (!ok && problems.length < 10) problems.push(`event ${i}: ${what}: ${e.data.toString()}`);
    };
    events.forEach((e, i) => {
      const j = parse(e);
      check(Object.keys(j).join() === 'key,type,value,time,truth', 'fields', i, e);
      check(j.key === e.key && /^host-\d{4}$/.test(j.key), 'key', i, e);
      check(TYPES.includes(j.type), 'type', i, e);
      check(typeof j.value === 'number' && Number.isFinite(j.value) && j.value >= 0, 'value', i, e);
      if (j.type === 'errors') check(Number.isInteger(j.value), 'errors are counts', i, e);
      if (j.type === 'cpu' || j.type === 'mem') check(j.value <= 100, 'percent', i, e);
      check(j.time === T0 + i && e.time === j.time, 'time', i, e);
      check(typeof j.truth === 'object' && typeof j.truth.anomaly === 'boolean', 'truth', i, e);
      check(JSON.stringify(j.truth) === JSON.stringify(e.truth), 'truth as returned', i, e);
      check(j.truth.anomaly ? KINDS.includes(j.truth.kind!) : !('kind' in j.truth), 'kind', i, e);
      check(
        Object.keys(j.truth).join() === (j.truth.anomaly ? 'anomaly,kind,episode' : 'anomaly'),
        'truth members',
        i,
        e,
      );
      if (!j.truth.anomaly) check(e.data.toString().endsWith(',"truth":{"anomaly":false}}'), 'normal truth text', i, e);
      // One type per key.
      const t = typeOf.get(j.key);
      if (t === undefined) typeOf.set(j.key, j.type);
      else check(j.type === t, 'one type per key', i, e);
    });
    expect(problems).toEqual([]);
    expect(new Set(typeOf.values()).size).toBe(4);
    // The documented example layout.
    expect(events[0]!.data.toString()).toMatch(
      /^\{"key":"host-\d{4}","type":"[a-z]+","value":[0-9.]+,"time":1700000000000,"truth":\{"anomaly":(false|true,"kind":"[a-z_]+","episode":1)\}\}$/,
    );
  });

  it('widens key names past 9999 keys', () => {
    const keys = new Set(take(2000, { keys: 20_000, seed: 1, anomalyRate: 0 }).map((e) => e.key));
    for (const k of keys) expect(k).toMatch(/^host-\d{5}$/);
  });

  it('uses event time T0 + i * stepMs, increasing per key', () => {
    const events = take(20_000, { keys: 37, seed: 9, anomalyRate: 0.05, stepMs: 5 });
    const last = new Map<string, number>();
    events.forEach((e, i) => {
      const { key, time } = parse(e);
      expect(time).toBe(T0 + 5 * i);
      expect(time).toBeGreaterThan(last.get(key) ?? -Infinity);
      last.set(key, time);
    });
    expect(last.size).toBe(37);
    const frac = take(100, { keys: 3, seed: 9, anomalyRate: 0, stepMs: 0.5 }).map((e) => parse(e).time);
    expect(frac[3]).toBe(T0 + 1.5);
  });

  it.each([0.01, 0.05])('labels a fraction close to p = %s of 200,000 events, of every kind', (p) => {
    const w = metricWorkload({ keys: 50, seed: 11, anomalyRate: p });
    const kinds = new Map<string, number>();
    let anomalies = 0;
    const N = 200_000;
    for (let i = 0; i < N; i++) {
      const { truth } = w.next();
      if (truth.anomaly) {
        anomalies++;
        kinds.set(truth.kind!, (kinds.get(truth.kind!) ?? 0) + 1);
      }
    }
    expect(Math.abs(anomalies / N - p)).toBeLessThan(0.15 * p);
    for (const kind of KINDS) expect(kinds.get(kind) ?? 0, kind).toBeGreaterThan(0);
  });

  it('gives no anomalies at rate 0 and only anomalies at rate 1', () => {
    const w = metricWorkload({ keys: 50, seed: 5, anomalyRate: 0 });
    let anomalies = 0;
    for (let i = 0; i < 200_000; i++) {
      const e = w.next();
      if (e.truth.anomaly || parseTruth(e.data)?.anomaly !== false) anomalies++;
    }
    expect(anomalies).toBe(0);
    expect(take(5000, { keys: 50, seed: 5, anomalyRate: 1 }).every((e) => e.truth.anomaly)).toBe(true);
  });

  it('keeps keys and normal noise the same whatever the anomaly rate', () => {
    const a = take(5000, { keys: 20, seed: 8, anomalyRate: 0 });
    const b = take(5000, { keys: 20, seed: 8, anomalyRate: 0.01 });
    expect(b.map((e) => e.key)).toEqual(a.map((e) => e.key));
    const same = a.filter((e, i) => e.data.equals(b[i]!.data)).length;
    expect(same).toBeGreaterThan(1000);
  });

  it("puts spikes, drops and error bursts far (> 5 sigma) from the key's recent normal values, and level shifts > 3 sigma", () => {
    const w = metricWorkload({ keys: 40, seed: 21, anomalyRate: 0.02 });
    // Per key: its normal values since its last level shift (a level shift starts a new normal).
    const recent = new Map<string, number[]>();
    const shifting = new Map<string, { before: { mean: number; std: number } | undefined; values: number[] }>();
    const checked = new Map<string, number>();
    const WINDOW = 100;
    for (let i = 0; i < 200_000; i++) {
      const e = w.next();
      const { key, value } = parse(e);
      const window = recent.get(key) ?? [];
      recent.set(key, window);
      const kind = e.truth.kind;
      if (kind === 'level_shift') {
        let s = shifting.get(key);
        if (!s) {
          s = { before: window.length >= 30 ? meanStd(window) : undefined, values: [] };
          shifting.set(key, s);
          window.length = 0;
        }
        s.values.push(value);
        if (s.values.length === LEVEL_SHIFT_LABELLED) {
          if (s.before) {
            const after = s.values.reduce((x, y) => x + y, 0) / s.values.length;
            expect(Math.abs(after - s.before.mean), `${key} level shift at ${i}`).toBeGreaterThan(3 * s.before.std);
            checked.set(kind, (checked.get(kind) ?? 0) + 1);
          }
          shifting.delete(key);
        }
        continue;
      }
      if (kind !== undefined) {
        if (window.length >= 30) {
          const { mean, std } = meanStd(window);
          expect(std).toBeGreaterThan(0);
          const distance = (value - mean) / std;
          if (kind === 'drop') expect(distance, `${key} drop at ${i}`).toBeLessThan(-5);
          else expect(distance, `${key} ${kind} at ${i}`).toBeGreaterThan(5);
          checked.set(kind, (checked.get(kind) ?? 0) + 1);
        }
        continue;
      }
      window.push(value);
      if (window.length > WINDOW) window.shift();
    }
    for (const kind of KINDS) expect(checked.get(kind) ?? 0, kind).toBeGreaterThan(10);
  });

  it('numbers episodes from 1 as they start: consecutive labelled events of a key and kind share one', () => {
    // Checked against the definition, per key: the previous event's kind and episode.
    const events = take(200_000, { keys: 40, seed: 12, anomalyRate: 0.05 });
    const prev = new Map<string, { kind: string | undefined; episode: number | undefined }>();
    const sizes = new Map<number, { kind: string; key: string; events: number; ended: boolean }>();
    let last = 0;
    const problems: string[] = [];
    events.forEach((e, i) => {
      const p = prev.get(e.key);
      const { kind, episode } = e.truth;
      if (!e.truth.anomaly) {
        if (episode !== undefined) problems.push(`event ${i}: a normal event in episode ${episode}`);
      } else if (p && p.kind === kind) {
        if (episode !== p.episode) problems.push(`event ${i}: ${kind} continues episode ${p.episode}, got ${episode}`);
      } else if (episode !== ++last) {
        problems.push(`event ${i}: ${kind} starts episode ${last}, got ${episode}`);
      }
      if (p?.episode !== undefined && p.episode !== episode) sizes.get(p.episode)!.ended = true;
      if (episode !== undefined) {
        const s = sizes.get(episode) ?? { kind: kind!, key: e.key, events: 0, ended: false };
        if (s.kind !== kind || s.key !== e.key) problems.push(`event ${i}: episode ${episode} of two keys or kinds`);
        s.events++;
        sizes.set(episode, s);
      }
      prev.set(e.key, { kind, episode });
    });
    expect(problems.slice(0, 10)).toEqual([]);
    expect(last).toBeGreaterThan(1000);
    expect(sizes.size).toBe(last);
    // Episodes still going at the last event are cut short.
    const byKind = (kind: string) => [...sizes.values()].filter((s) => s.kind === kind && s.ended).map((s) => s.events);
    // A level shift labels 3 events; one straight back (a second shift at once) makes 6 in one episode.
    const shifts = byKind('level_shift');
    expect(shifts.filter((n) => n === LEVEL_SHIFT_LABELLED).length).toBeGreaterThan(100);
    expect(shifts.every((n) => n % LEVEL_SHIFT_LABELLED === 0)).toBe(true);
    // An error burst is 3..6 events, each length seen.
    const bursts = byKind('error_burst');
    for (const n of [3, 4, 5, 6]) expect(bursts.filter((b) => b === n).length, `bursts of ${n}`).toBeGreaterThan(10);
    expect(bursts.every((n) => n >= 3)).toBe(true);
    expect(byKind('spike').filter((n) => n === 1).length).toBeGreaterThan(100);
  });

  it('makes back-to-back episodes of a key and kind one episode', () => {
    // At rate 1 a key is always in an episode: a spike right after a spike, a level shift right back, and so on.
    const events = take(5000, { keys: 3, seed: 2, anomalyRate: 1 });
    const sizes = new Map<number, { kind: string; events: number }>();
    for (const e of events) {
      const s = sizes.get(e.truth.episode!) ?? { kind: e.truth.kind!, events: 0 };
      s.events++;
      sizes.set(e.truth.episode!, s);
    }
    const merged = (kind: string, min: number) =>
      [...sizes.values()].filter((s) => s.kind === kind && s.events >= min).length;
    expect(merged('spike', 2)).toBeGreaterThan(10);
    expect(merged('level_shift', 2 * LEVEL_SHIFT_LABELLED)).toBeGreaterThan(10);
    expect(merged('error_burst', 7)).toBeGreaterThan(0);
    expect(sizes.size).toBeLessThan(events.length / 2);
  });

  it('rejects bad options', () => {
    expect(() => metricWorkload({ keys: 0, seed: 1, anomalyRate: 0 })).toThrow(RangeError);
    expect(() => metricWorkload({ keys: 1.5, seed: 1, anomalyRate: 0 })).toThrow(RangeError);
    expect(() => metricWorkload({ keys: 1, seed: 1, anomalyRate: -0.1 })).toThrow(RangeError);
    expect(() => metricWorkload({ keys: 1, seed: 1, anomalyRate: 1.1 })).toThrow(RangeError);
    expect(() => metricWorkload({ keys: 1, seed: 1, anomalyRate: Number.NaN })).toThrow(RangeError);
    expect(() => metricWorkload({ keys: 1, seed: 1, anomalyRate: 0, stepMs: 0 })).toThrow(RangeError);
  });
});

describe('parseTruth', () => {
  it('reads the truth of generated events', () => {
    for (const e of take(20_000, { keys: 30, seed: 4, anomalyRate: 0.1 })) expect(parseTruth(e.data)).toEqual(e.truth);
  });

  it.each([
    ['{"key":"a","value":1}', undefined],
    ['{"key":"a","truth":{"anomaly":false}}', { anomaly: false }],
    ['{"truth":{"anomaly":true}}', { anomaly: true }],
    ['{"key":"a","truth":{"anomaly":true,"kind":"spike"}}', { anomaly: true, kind: 'spike' }],
    ['{"key":"a","truth":{"anomaly":true,"kind":"my kind"}}', { anomaly: true, kind: 'my kind' }],
    ['{"key":"a","truth":{"anomaly":true,"kind":"spike","episode":42}}', { anomaly: true, kind: 'spike', episode: 42 }],
    ['{"key":"a","truth":{"episode":7,"anomaly":true}}', { anomaly: true, episode: 7 }],
    // An episode that is not a positive integer is left out.
    ['{"key":"a","truth":{"anomaly":true,"kind":"drop","episode":0}}', { anomaly: true, kind: 'drop' }],
    ['{"key":"a","truth":{"anomaly":true,"kind":"drop","episode":"3"}}', { anomaly: true, kind: 'drop' }],
    // Other layouts: parsed.
    ['{"truth": {"kind": "drop", "anomaly": true}, "key": "a"}', { anomaly: true, kind: 'drop' }],
    ['{ "key": "a", "truth": { "anomaly": false } }', { anomaly: false }],
    ['{"key":"a","truth":{"anomaly":true,"kind":"a\\"b"}}', { anomaly: true, kind: 'a"b' }],
    // Not a truth at the top level, or not a valid one.
    ['{"key":"a","meta":{"truth":{"anomaly":true,"kind":"spike"}}}', undefined],
    ['{"key":"a","note":"\\"truth\\":{\\"anomaly\\":true}"}', undefined],
    ['{"key":"a","truth":{"anomaly":"yes"}}', undefined],
    ['{"key":"a","truth":true}', undefined],
    ['{"key":"a","truth":', undefined],
    ['[{"truth":{"anomaly":true}}]', undefined],
    ['', undefined],
  ])('%s', (text, expected) => {
    expect(parseTruth(Buffer.from(text))).toEqual(expected);
  });
});
