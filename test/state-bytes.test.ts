import { describe, expect, it } from 'vitest';
import { decodeKeyStats, encodeKeyStats, type KeyStats } from '../src/pipeline/stages/enrich.js';
import { ByteReader, ByteWriter, isJsonEntry } from '../src/pipeline/stages/state-bytes.js';

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
  const plain: KeyStats = { n: 42, mean: 12.345678901234567, v: 0.1 + 0.2, last: -3e-9, out: 1, recent: [99.5] };
  const shifted: KeyStats = { n: 7, mean: 50, v: 2.5, last: 51, out: 0, recent: [], prev: 10.25, probation: 49 };

  it.each([
    ['plain', plain],
    ['after a level shift', shifted],
  ])('binary round trip, exact to the bit: %s', (_name, s) => {
    const entry = encodeKeyStats(s);
    expect(isJsonEntry(entry)).toBe(false);
    expect(decodeKeyStats(entry)).toEqual(s);
  });

  it('an entry an earlier version wrote as JSON still loads', () => {
    expect(decodeKeyStats(Buffer.from(JSON.stringify(shifted)))).toEqual(shifted);
  });

  it('an unknown format or a truncated entry is refused', () => {
    const entry = encodeKeyStats(plain);
    expect(() => decodeKeyStats(Buffer.concat([Buffer.from([9]), entry.subarray(1)]))).toThrow(/unknown format 9/);
    expect(() => decodeKeyStats(entry.subarray(0, entry.length - 1))).toThrow(/truncated/);
  });
});
