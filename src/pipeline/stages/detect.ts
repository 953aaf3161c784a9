import { isAnomaly, IsolationForest, thresholdForContamination } from '../../ml/isolation-forest.js';
import { seededRandom, type Random } from '../../ml/random.js';
import type { Stage, StageContext } from '../stage.js';
import { isMetricRecord, recordFeatures, withScore } from './metric-record.js';

export interface DetectParams {
  /** Model name in the namespace's model store; every detect worker uses its newest version. */
  model: string;
  trees: number;
  subsample: number;
  /** Rows of the training reservoir: the first `window` ready events, later a uniform sample. */
  window: number;
  /** Retrain on the reservoir this often (ms); 0 never retrains once a model exists. */
  retrainMs: number;
  /** Train a model when none exists (false: wait for `streamctl train`). */
  train: boolean;
  /** Flag scores at or above this; when absent, the threshold is the `contamination` quantile of the training scores. */
  threshold?: number;
  contamination: number;
  seed: number;
  /** How often a worker looks for a newer model version (ms). */
  refreshMs: number;
  /**
   * Scores of events after training from which the threshold is set again (the contamination
   * quantile of a few thousand training rows moves too much from one window to the next).
   */
  calibration: number;
}

export const DETECT_DEFAULTS: DetectParams = {
  model: 'detect',
  trees: 100,
  subsample: 256,
  window: 4096,
  retrainMs: 600_000,
  train: true,
  contamination: 0.01,
  seed: 1,
  refreshMs: 1000,
  calibration: 40_960,
};

/**
 * The features of an enriched event: its z-score and its change from the last normal value, in
 * standard deviations; undefined while its key warms up.
 */
export function features(d: { z?: unknown; delta?: unknown; std?: unknown; ready?: unknown }): [number, number] | undefined {
  const z = Number(d.z);
  const std = Number(d.std);
  if (d.ready !== true || !Number.isFinite(z) || !(std > 0)) return undefined;
  return [z, Number(d.delta) / std];
}

/** A stored model: the forest and the threshold it was calibrated with. */
export interface DetectModel {
  forest: IsolationForest;
  threshold: number;
  /** Whether the threshold comes from a large sample of scores, not only the training rows. */
  calibrated: boolean;
}

/** Model bytes: u32 length of the metadata JSON, the JSON, then the forest. */
export function encodeModel(m: DetectModel): Buffer {
  const meta = Buffer.from(JSON.stringify({ threshold: m.threshold, calibrated: m.calibrated }));
  const head = Buffer.alloc(4);
  head.writeUInt32LE(meta.length);
  return Buffer.concat([head, meta, m.forest.serialize()]);
}

export function decodeModel(buf: Buffer): DetectModel {
  const n = buf.readUInt32LE(0);
  const meta = JSON.parse(buf.subarray(4, 4 + n).toString()) as { threshold: number; calibrated?: boolean };
  return { forest: IsolationForest.deserialize(buf.subarray(4 + n)), threshold: meta.threshold, calibrated: meta.calibrated === true };
}

/**
 * Trains a model on `rows` and sets its threshold: `p.threshold` if given, else the contamination
 * quantile of the scores of `calibrationRows` (default: the training rows themselves).
 */
export function trainModel(
  rows: number[][],
  p: Pick<DetectParams, 'trees' | 'subsample' | 'seed' | 'threshold' | 'contamination'>,
  calibrationRows: number[][] = rows,
): DetectModel {
  const forest = IsolationForest.train(rows, { trees: p.trees, subsample: p.subsample, seed: p.seed });
  const threshold = p.threshold ?? thresholdForContamination(forest.scoreMany(calibrationRows), p.contamination);
  return { forest, threshold, calibrated: p.threshold !== undefined || calibrationRows.length >= 8 * rows.length };
}

/**
 * What the detect instances of one process share: the current model and the training reservoir
 * (training data is not partition state; the model is shared through Redis).
 */
class Shared {
  model: { version: number; m: DetectModel } | undefined;
  private checkedAt = 0;
  private reservoir: number[][] = [];
  private seen = 0;
  private readonly rand: Random;
  private trainedAt = 0;
  private training = false;
  /** Scores seen under an uncalibrated model: a uniform sample, for setting its threshold. */
  private calib: number[] = [];
  private calibSeen = 0;

  constructor(private readonly p: DetectParams) {
    this.rand = seededRandom(p.seed);
  }

  /** Loads a newer model version if there is one, at most every refreshMs. */
  async refresh(ctx: StageContext, force = false): Promise<void> {
    const now = Date.now();
    if (!force && now - this.checkedAt < this.p.refreshMs) return;
    this.checkedAt = now;
    const version = await ctx.services.models.latestVersion(this.p.model);
    if (version && version !== this.model?.version) {
      const stored = await ctx.services.models.latest(this.p.model);
      if (stored) this.model = { version: stored.version, m: decodeModel(stored.bytes) };
    }
  }

  /** Reservoir sampling (Algorithm R): a uniform sample of every ready event seen. */
  add(row: number[]): void {
    this.seen++;
    if (this.reservoir.length < this.p.window) this.reservoir.push(row);
    else {
      const j = Math.floor(this.rand() * this.seen);
      if (j < this.p.window) this.reservoir[j] = row;
    }
  }

  /** Samples a score for calibrating the current model's threshold. */
  addScore(score: number): void {
    if (!this.p.train || this.p.threshold !== undefined || !this.model || this.model.m.calibrated) return;
    this.calibSeen++;
    if (this.calib.length < this.p.calibration) this.calib.push(score);
    else {
      const j = Math.floor(this.rand() * this.calibSeen);
      if (j < this.p.calibration) this.calib[j] = score;
    }
  }

  /** Once enough scores are in, stores the model again with the threshold they give. */
  async maybeCalibrate(ctx: StageContext): Promise<void> {
    const current = this.model;
    if (!current || current.m.calibrated || this.training || this.calib.length < this.p.calibration) return;
    this.training = true;
    try {
      const m: DetectModel = { forest: current.m.forest, threshold: thresholdForContamination(this.calib, this.p.contamination), calibrated: true };
      const version = await ctx.services.models.save(this.p.model, encodeModel(m));
      this.model = { version, m };
      this.calib = [];
      this.calibSeen = 0;
    } finally {
      this.training = false;
    }
  }

  async maybeTrain(ctx: StageContext): Promise<void> {
    if (!this.p.train || this.training || this.reservoir.length < this.p.window) return;
    const due = !this.model || (this.p.retrainMs > 0 && Date.now() - this.trainedAt >= this.p.retrainMs);
    if (!due) return;
    this.training = true;
    try {
      const m = trainModel(this.reservoir, this.p);
      const version = await ctx.services.models.save(this.p.model, encodeModel(m));
      this.model = { version, m };
      this.trainedAt = Date.now();
      this.reservoir = [];
      this.seen = 0;
      this.calib = [];
      this.calibSeen = 0;
    } finally {
      this.training = false;
    }
  }
}

const shared = new Map<string, Shared>();

/**
 * Built-in `detect`: scores enriched events with an Isolation Forest shared through the model
 * store, and flags those at or above the model's threshold. It adds `score`, `anomaly` and
 * `model` (the version) to the event's JSON; events without statistics yet get `score: null`.
 */
export function detect(params: Record<string, unknown>): Stage {
  const p: DetectParams = { ...DETECT_DEFAULTS, ...(params as Partial<DetectParams>) };
  let s: Shared | undefined;
  const sharedFor = (ctx: StageContext) => {
    if (!s) {
      const id = `${ctx.namespace}\u0000${p.model}`;
      s = shared.get(id) ?? new Shared(p);
      shared.set(id, s);
    }
    return s;
  };
  return {
    name: 'detect',
    async init(ctx) {
      await sharedFor(ctx).refresh(ctx, true);
    },
    async process(batch, ctx) {
      const sh = sharedFor(ctx);
      await sh.refresh(ctx);
      const model = sh.model;
      const out = batch.map((e) => {
        const record = isMetricRecord(e.data);
        // Metric records from enrich are read and written in place; JSON from a user's stage works too.
        const d = record ? undefined : (JSON.parse(e.data.toString()) as Record<string, unknown>);
        const f = features(d ?? recordFeatures(e.data));
        if (f) sh.add(f);
        let score: number | null = null;
        let anomaly = false;
        if (f && model) {
          score = model.m.forest.score(f);
          sh.addScore(score);
          anomaly = isAnomaly(score, model.m.threshold);
        }
        if (record) return { ...e, data: withScore(e.data, score, anomaly, model?.version ?? 0) };
        Object.assign(d!, { score, anomaly, ...(model ? { model: model.version } : {}) });
        return { ...e, data: Buffer.from(JSON.stringify(d)) };
      });
      await sh.maybeTrain(ctx);
      await sh.maybeCalibrate(ctx);
      return out;
    },
  };
}
