import { describe, expect, it } from 'vitest';
import type { StreamEvent } from '../src/pipeline/codec.js';
import type { Stage, StageContext } from '../src/pipeline/stage.js';
import { enrich } from '../src/pipeline/stages/enrich.js';
import { decodeMetricRecord } from '../src/pipeline/stages/metric-record.js';
import { SPREAD_ENTRY } from '../src/pipeline/stages/spread-prior.js';
import { ByteReader, ByteWriter, isJsonEntry } from '../src/pipeline/stages/state-bytes.js';
import { stageContext } from './helpers/stage.js';

describe('state bytes', () => {
  it('reads back what was written, growing past the first buffer', () => {
    const w = new ByteWriter(8);
    const words = Array.from({ length: 200 }, (_, i) => `wörd-${i}-${'x'.repeat(i % 7)}`);
    w.u8(7).u16(65_535).u32(4_000_000_000).f64(-0.1);
    for (const s of words) w.str(s).f64(Math.PI * words.indexOf(s));
    const at = w.length;
    w.u32(0);
    w.setU32(at, 123);
    const buf = w.take();
    expect(w.length).toBe(0);
    const r = new ByteReader(buf);
    expect([r.u8(), r.u16(), r.u32(), r.f64()]).toEqual([7, 65_535, 4_000_000_000, -0.1]);
    for (const s of words) expect([r.str(), r.f64()]).toEqual([s, Math.PI * words.indexOf(s)]);
    expect(r.u32()).toBe(123);
    expect(() => r.end()).not.toThrow();
  });

  it('a read past the end or bytes left over throw', () => {
    const buf = new ByteWriter().u16(3).take();
    expect(() => new ByteReader(buf).str()).toThrow(/truncated at byte 2 of 2/);
    const r = new ByteReader(Buffer.from([1, 2]));
    r.u8();
    expect(() => r.end()).toThrow(/1 trailing bytes/);
    expect(() => new ByteWriter().str('a'.repeat(70_000))).toThrow(/at most 65535/);
  });

  it('JSON entries are told apart by their first byte', () => {
    expect(isJsonEntry(Buffer.from('{"n":1}'))).toBe(true);
    expect(isJsonEntry(Buffer.from('[1]'))).toBe(true);
    expect(isJsonEntry(new ByteWriter().u8(1).take())).toBe(false);
  });
});

describe('enrich key statistics entries', () => {
  const KEY = 'host-1';
  const base = stageContext();
  const ctx: StageContext = { ...base, services: { ...base.services, lookup: async () => new Map() } };
  const params = { warmup: 5 };
  const metric = (seq: number, value: number): StreamEvent => ({
    key: KEY,
    producer: 'p',
    seq,
    ts: seq,
    data: Buffer.from(JSON.stringify({ type: 'cpu', value, time: seq })),
  });
  /** Feeds `values` to `stage`, one batch each, and returns the records it wrote. */
  const feed = async (stage: Stage, values: number[], from = 0): Promise<Buffer[]> => {
    const out: Buffer[] = [];
    for (const [i, v] of values.entries())
      out.push(...(await stage.process([metric(from + i, v)], ctx)).map((e) => e.data));
    return out;
  };
  const entries = (stage: Stage) => new Map(stage.state!.changes(ctx).set.map(([k, v]) => [k, Buffer.from(v)]));
  const loaded = (saved: Map<string, Buffer> | undefined): Stage => {
    const stage = enrich(params);
    stage.state!.load(saved, ctx);
    return stage;
  };

  const warmup = [10, 11, 9, 10.5, 9.5, 10 + 1 / 3];
  // Each case: the values before the entry is taken, then values whose records and entries depend on
  // every field of it: the outliers in a row and their values (3 that agree are a shift to their mean),
  // the level before a shift and the probation left (a return to that level during it undoes the shift).
  it.each([
    ['plain, one outlier into a run', [...warmup, 99.5], [99.7, 99.6, 99.8, 10.1]],
    ['after a level shift', [...warmup, 99.5, 99.7, 99.6], [99.65, 10.1, 10.2]],
  ])('binary round trip through load, exact to the bit: %s', async (_name, before, after) => {
    const first = enrich(params);
    await feed(first, before);
    const saved = entries(first);
    // The key's statistics, and its type's spread (which scores a warming-up key).
    expect([...saved.keys()]).toEqual([KEY, `${SPREAD_ENTRY}cpu`]);
    expect(isJsonEntry(saved.get(KEY)!)).toBe(false);
    const second = loaded(saved);
    const expected: Buffer[] = [];
    for (const [i, value] of after.entries()) {
      const seq = before.length + i;
      const [want] = await feed(first, [value], seq);
      const [got] = await feed(second, [value], seq);
      expect(got!.equals(want!), `record ${i}`).toBe(true);
      expect(entries(second), `entry after ${i}`).toEqual(entries(first));
      expected.push(want!);
    }
    // Without the entry the same values give other records: they do depend on it.
    const fresh = await feed(loaded(undefined), after, before.length);
    expect(fresh.every((data, i) => data.equals(expected[i]!))).toBe(false);
  });

  it('an entry an earlier version wrote as JSON still loads', async () => {
    const shifted = { n: 7, mean: 50, v: 2.5, last: 51, out: 0, recent: [], prev: 10.25, probation: 49 };
    const stage = loaded(new Map([[KEY, Buffer.from(JSON.stringify(shifted))]]));
    // Back at the level before the shift during probation: the shift is undone, z is against that level.
    const [record] = await feed(stage, [10.25]);
    expect(decodeMetricRecord(record!)).toMatchObject({
      ready: true,
      mean: 10.25,
      std: Math.sqrt(2.5),
      z: 0,
      delta: 10.25 - 51,
    });
  });

  it('an unknown format or a truncated entry is refused', async () => {
    const stage = enrich(params);
    await feed(stage, warmup);
    const entry = entries(stage).get(KEY)!;
    const load = (value: Buffer) => () => enrich(params).state!.load(new Map([[KEY, value]]), ctx);
    expect(load(Buffer.concat([Buffer.from([9]), entry.subarray(1)]))).toThrow(/unknown format 9/);
    expect(load(entry.subarray(0, entry.length - 1))).toThrow(/truncated/);
    const spread = entries(stage).get(`${SPREAD_ENTRY}cpu`) ?? new ByteWriter().u8(1).f64(0.03).f64(10).take();
    const loadSpread = (value: Buffer) => () =>
      enrich(params).state!.load(new Map([[`${SPREAD_ENTRY}cpu`, value]]), ctx);
    expect(loadSpread(Buffer.concat([Buffer.from([9]), spread.subarray(1)]))).toThrow(/unknown format 9/);
    expect(loadSpread(spread.subarray(0, spread.length - 1))).toThrow(/truncated/);
  });
});
