import { describe, expect, it } from 'vitest';
import { UsageError } from '../src/errors.js';
import { appliesTo, parseToxic } from '../src/chaos/proxy/toxic.js';

describe('parseToxic', () => {
  it.each([
    [
      { name: 'lat', type: 'latency', ms: 50 },
      { name: 'lat', type: 'latency', direction: 'both', ms: 50, jitterMs: 0 },
    ],
    [
      { name: 'lat', type: 'latency', direction: 'upstream', ms: 10, jitterMs: 5 },
      { name: 'lat', type: 'latency', direction: 'upstream', ms: 10, jitterMs: 5 },
    ],
    [
      { name: 'bw', type: 'bandwidth', direction: 'downstream', kbps: 0.5 },
      { name: 'bw', type: 'bandwidth', direction: 'downstream', kbps: 0.5 },
    ],
    [
      { name: 'hole', type: 'blackhole' },
      { name: 'hole', type: 'blackhole', direction: 'both' },
    ],
    [
      { name: 'rst', type: 'reset_peer', direction: 'upstream' },
      { name: 'rst', type: 'reset_peer', direction: 'upstream' },
    ],
    [
      { name: 's', type: 'slicer', averageSize: 10 },
      { name: 's', type: 'slicer', direction: 'both', averageSize: 10, sizeVariation: 0, delayUs: 0 },
    ],
    [
      { name: 'cap', type: 'limit_data', bytes: 0 },
      { name: 'cap', type: 'limit_data', direction: 'both', bytes: 0 },
    ],
  ])('accepts %j, defaults filled in', (raw, parsed) => {
    expect(parseToxic(raw)).toEqual(parsed);
  });

  it('accepts a toxic read from JSON', () => {
    expect(parseToxic(JSON.parse('{"name":"x","type":"latency","ms":5,"jitterMs":1}'))).toMatchObject({
      type: 'latency',
      ms: 5,
    });
  });

  it.each([
    [{ name: 'x', type: 'latency', ms: -1 }, /^toxic "x": ms: .*>=0/],
    [{ name: 'x', type: 'latency' }, /^toxic "x": ms: missing \(expected number\)$/],
    [{ name: 'x', type: 'bandwidth', kbps: 0 }, /^toxic "x": kbps: .*>0/],
    [{ name: 'x', type: 'slicer', averageSize: 4, sizeVariation: 4 }, /sizeVariation must be smaller than averageSize/],
    [{ name: 'x', type: 'slicer', averageSize: 1.5 }, /^toxic "x": averageSize: .*int/],
    [{ name: 'x', type: 'limit_data', bytes: -3 }, /^toxic "x": bytes: /],
    [{ name: 'x', type: 'timeout' }, /^toxic "x": type: .*latency/],
    [{ name: 'x', type: 'blackhole', direction: 'sideways' }, /^toxic "x": direction: .*upstream/],
    [{ name: 'x', type: 'blackhole', ms: 5 }, /^toxic "x": \(top\): .*ms/],
    [{ type: 'blackhole' }, /^toxic: name: missing/],
    [{ name: '', type: 'blackhole' }, /a toxic needs a name/],
    [{ name: 'a b', type: 'blackhole' }, /letters, digits/],
    ['latency', /^toxic: \(top\): /],
  ])('refuses %j with a message naming the field', (raw, message) => {
    let err: unknown;
    try {
      parseToxic(raw);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).code).toBe('BAD_TOXIC');
    expect((err as UsageError).message).toMatch(message);
    expect((err as UsageError).exitCode).toBe(2);
  });

  it('appliesTo: both covers each direction, a direction only itself', () => {
    expect(appliesTo({ direction: 'both' }, 'upstream')).toBe(true);
    expect(appliesTo({ direction: 'both' }, 'downstream')).toBe(true);
    expect(appliesTo({ direction: 'upstream' }, 'upstream')).toBe(true);
    expect(appliesTo({ direction: 'upstream' }, 'downstream')).toBe(false);
  });
});
