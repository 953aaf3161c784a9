import { describe, expect, it } from 'vitest';
import type { StreamEvent } from '../src/pipeline/codec.js';
import { detect, encodeModel, trainModel } from '../src/pipeline/stages/detect.js';
import { enrich, ENRICH_DEFAULTS, freshStats, observe } from '../src/pipeline/stages/enrich.js';
import { decodeMetricRecord } from '../src/pipeline/stages/metric-record.js';
import { stageContext } from './helpers/stage.js';

describe('detection before a model exists and while a key warms up', () => {
  it('enrich gives a z-score from the minHistory-th value of a key, still not ready', () => {
    const s = freshStats();
    const values = [10, 11, 9, 10, 11, 9, 10, 11];
    const seen = values.map((v) => observe(s, v, ENRICH_DEFAULTS));
    // Fewer values than minHistory before it: no spread, so no z.
    expect(seen.slice(0, ENRICH_DEFAULTS.minHistory).every((o) => o.std === 0 && o.z === 0)).toBe(true);
    const spike = observe(s, 30, ENRICH_DEFAULTS);
    expect(spike.ready).toBe(false);
    expect(spike.std).toBeGreaterThan(0);
    expect(spike.z).toBeGreaterThan(10);
  });

  it("with its type's spread, enrich gives a z-score from a key's second value", () => {
    const s = freshStats();
    expect(observe(s, 100, ENRICH_DEFAULTS, 0.03).std).toBe(0);
    // One value of 100 and a type spread of 3%: sigma 3, widened by the mean of one value.
    const normal = observe({ ...s, recent: [] }, 101, ENRICH_DEFAULTS, 0.03);
    expect(normal.std).toBeCloseTo(3 * Math.SQRT2, 6);
    expect(Math.abs(normal.z)).toBeLessThan(1);
    const spike = observe(s, 130, ENRICH_DEFAULTS, 0.03);
    expect(spike.z).toBeGreaterThan(ENRICH_DEFAULTS.outlier);
    expect(spike.ready).toBe(false);
  });

  it('a warming-up key keeps a spike out of its statistics, and restarts them at a level that moved', () => {
    const s = freshStats();
    for (const v of [100, 101, 99, 100]) observe(s, v, ENRICH_DEFAULTS, 0.01);
    const before = { n: s.n, mean: s.mean };
    expect(observe(s, 150, ENRICH_DEFAULTS, 0.01).z).toBeGreaterThan(ENRICH_DEFAULTS.outlier);
    expect({ n: s.n, mean: s.mean }).toEqual(before);
    expect(Math.abs(observe(s, 100, ENRICH_DEFAULTS, 0.01).z)).toBeLessThan(2);
    // shiftAfter values at a new level in a row: the warm-up starts again from them.
    for (let i = 0; i < ENRICH_DEFAULTS.shiftAfter; i++) observe(s, 150 + i, ENRICH_DEFAULTS, 0.01);
    expect(s.n).toBe(ENRICH_DEFAULTS.shiftAfter);
    expect(s.mean).toBeCloseTo(151, 6);
    expect(Math.abs(observe(s, 151, ENRICH_DEFAULTS, 0.01).z)).toBeLessThan(1);
  });

  it('the enrich stage scores the second value of a new key once its type has shown its spread', async () => {
    const stage = enrich({});
    const ctx = stageContext();
    ctx.services.lookup = async () => new Map();
    let seq = 0;
    const ev = (key: string, value: number): StreamEvent => ({
      key,
      producer: 'p',
      seq: ++seq,
      ts: seq,
      data: Buffer.from(JSON.stringify({ key, type: 'cpu', value, time: seq })),
    });
    // 20 keys at levels 20..39 with values within 2% of them, three values each.
    const warm: StreamEvent[] = [];
    for (let round = 0; round < 3; round++)
      for (let k = 0; k < 20; k++) warm.push(ev(`k${k}`, (20 + k) * (1 + 0.02 * Math.sin(round * 7 + k))));
    await stage.process(warm, ctx);
    const out = await stage.process([ev('new', 50), ev('new', 50.5), ev('new', 80)], ctx);
    const [first, second, spike] = out.map((e) => decodeMetricRecord(e.data));
    expect(first!.std).toBe(0);
    expect(second!.std).toBeGreaterThan(0);
    expect(Math.abs(second!.z)).toBeLessThan(2);
    expect(spike!.z).toBeGreaterThan(ENRICH_DEFAULTS.outlier);
  });

  it('the forest flags only events at least minSigma from their key (a rare change of an ordinary value is not one)', async () => {
    const rows = Array.from({ length: 256 }, (_, i) => [Math.sin(i), Math.cos(i)]);
    // Threshold 0: every score is at or above it, so only minSigma decides.
    const model = encodeModel(
      trainModel(rows, { trees: 10, subsample: 64, seed: 1, threshold: 0, contamination: 0.01 }),
    );
    const ctx = stageContext();
    ctx.services.models.latestVersion = async () => 1;
    ctx.services.models.latest = async () => ({ version: 1, bytes: model });
    const stage = detect({ train: false });
    await stage.init!(ctx);
    const ev = (seq: number, z: number, delta: number): StreamEvent => ({
      key: 'k',
      producer: 'p',
      seq,
      ts: seq,
      data: Buffer.from(JSON.stringify({ value: 1, ready: true, std: 1, z, delta })),
    });
    const out = await stage.process([ev(1, 1, 9), ev(2, -5, 0), ev(3, 3.4, 3.4)], ctx);
    const got = out.map((e) => JSON.parse(e.data.toString()) as Record<string, unknown>);
    expect(got.map((g) => g.scoreSource)).toEqual(['forest', 'forest', 'forest']);
    expect(got.map((g) => g.anomaly)).toEqual([false, true, false]);
  });

  it('detect scores by |z| with no model (source zscore), flags at fallbackSigma, and leaves a key with no spread unscored', async () => {
    const ctx = stageContext();
    // No model store in this test: the stage must not need one to score.
    ctx.services.models.latestVersion = async () => 0;
    const stage = detect({ train: false });
    await stage.init!(ctx);
    const ev = (seq: number, d: Record<string, unknown>): StreamEvent => ({
      key: 'k',
      producer: 'p',
      seq,
      ts: seq,
      data: Buffer.from(JSON.stringify({ value: 1, ready: false, delta: 0, ...d })),
    });
    const out = await stage.process(
      [ev(1, { z: 6.5, std: 2 }), ev(2, { z: -1, std: 2 }), ev(3, { z: 0, std: 0 })],
      ctx,
    );
    const got = out.map((e) => JSON.parse(e.data.toString()) as Record<string, unknown>);
    expect(got[0]).toMatchObject({ score: 6.5, scoreSource: 'zscore', anomaly: true });
    expect(got[1]).toMatchObject({ score: 1, scoreSource: 'zscore', anomaly: false });
    expect(got[2]).toMatchObject({ score: null, anomaly: false });
    expect(got[2]).not.toHaveProperty('scoreSource');
  });
});
