import { describe, expect, it } from 'vitest';
import { durationSchema, formatDuration, parseDuration } from '../src/duration.js';

describe('parseDuration', () => {
  it.each([
    ['500ms', 500],
    ['30s', 30_000],
    ['2m', 120_000],
    ['1h', 3_600_000],
    ['1.5s', 1500],
    ['10', 10_000],
    ['0', 0],
    [' 30 s ', 30_000],
    ['0.25m', 15_000],
  ])('%j is %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['', 'soon', '-5s', '5d', '1.s', '.5s', '5 sec', '1h30m', 'ms', '30S', 'NaN'])(
    '%j is not a duration',
    (text) => {
      expect(parseDuration(text)).toBeUndefined();
    },
  );
});

describe('durationSchema', () => {
  const schema = durationSchema();

  it('turns strings into milliseconds', () => {
    expect(schema.parse('30s')).toBe(30_000);
    expect(schema.parse('250ms')).toBe(250);
    expect(schema.parse('3')).toBe(3000);
  });

  it('reads a number as seconds', () => {
    expect(schema.parse(2)).toBe(2000);
    expect(schema.parse(0.5)).toBe(500);
  });

  it('rejects text that is not a duration with a message naming it', () => {
    const r = schema.safeParse('soon');
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.message).toContain('"soon"');
    expect(r.error?.issues[0]?.message).toContain('30s');
  });

  it('rejects negative, infinite and NaN numbers and other types', () => {
    for (const bad of [-1, Number.POSITIVE_INFINITY, Number.NaN, true, null, {}]) {
      expect(schema.safeParse(bad).success, String(bad)).toBe(false);
    }
    expect(() => schema.parse('5d')).toThrow();
  });
});

describe('formatDuration', () => {
  it.each([
    [0, '0ms'],
    [850, '850ms'],
    [12.4, '12ms'],
    [1000, '1.0s'],
    [12_300, '12.3s'],
    [59_000, '59.0s'],
    [60_000, '1m00s'],
    [245_000, '4m05s'],
    [59 * 60_000 + 58_999, '59m59s'],
    [59 * 60_000 + 59_999, '1h00m'],
    [3_600_000, '1h00m'],
    [5_430_000, '1h30m'],
    [25 * 3_600_000 + 7 * 60_000, '25h07m'],
  ])('%d ms is %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});
