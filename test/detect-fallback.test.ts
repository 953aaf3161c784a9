import { describe, expect, it } from 'vitest';
import type { StreamEvent } from '../src/pipeline/codec.js';
import { detect } from '../src/pipeline/stages/detect.js';
import { ENRICH_DEFAULTS, freshStats, observe } from '../src/pipeline/stages/enrich.js';
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
