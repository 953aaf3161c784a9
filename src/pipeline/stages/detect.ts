import { isAnomaly, IsolationForest, thresholdForContamination } from '../../ml/isolation-forest.js';
import { seededRandom, type Random } from '../../ml/random.js';
import type { Stage, StageContext } from '../stage.js';
import { isMetricRecord, recordFeatures, writeScore, type ScoreSource } from './metric-record.js';

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
  /**
   * Until a model exists, and while a key warms up, events are scored by their z-score instead
   * (|z|, source `zscore`) and flagged at or above this many standard deviations.
   */
  fallbackSigma: number;
  /**
   * The forest flags an event only when its |z| is at least this many standard deviations: a value
   * ordinary for its key is no anomaly, however unusual its change from the last one (the change is
   * the noisier feature, and the forest's threshold alone moves with the share it was calibrated at).
   */
  minSigma: number;
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
  fallbackSigma: 4.5,
  minSigma: 3.5,
};

/**
 * The features of an enriched event: its z-score and its change from the last normal value, in
 * standard deviations; undefined while its key warms up.
 */
export function features(d: {
  z?: unknown;
  delta?: unknown;
  std?: unknown;
  ready?: unknown;
}): [number, number] | undefined {
  const z = Number(d.z);
  const std = Number(d.std);
  if (d.ready !== true || !Number.isFinite(z) || !(std > 0)) return undefined;
  return [z, Number(d.delta) / std];
}

/**
 * The z-score fallback's view of an event: its |z| from the key's statistics so far, ready or
 * still warming up (enrich gives one from its first few values); undefined with none yet.
 */
export function fallbackScore(d: { z?: unknown; std?: unknown }): number | undefined {
  const z = Number(d.z);
  return Number.isFinite(z) && Number(d.std) > 0 ? Math.abs(z) : undefined;
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

function decodeModel(buf: Buffer): DetectModel {
  const n = buf.readUInt32LE(0);
  const meta = JSON.parse(buf.subarray(4, 4 + n).toString()) as { threshold: number; calibrated?: boolean };
  return {
    forest: IsolationForest.deserialize(buf.subarray(4 + n)),
    threshold: meta.threshold,
    calibrated: meta.calibrated === true,
  };
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
  /** Scores seen under an uncalibrated model: a uniform sample, for setting its threshold. */
  private calib: number[] = [];
  private calibSeen = 0;
  /** Whether the current training's model has its provisional threshold already. */
  private provisional = false;
  /** A model made here and not stored yet (see `use` and `save`). */
  private unsaved: DetectModel | undefined;
  private saving = false;

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

  /**
   * Once enough scores are in, sets the threshold they give, at once (the rest of the batch is
   * flagged with it); `save` stores the model.
   */
  calibrateNow(): void {
    const current = this.model;
    if (!current || current.m.calibrated) return;
    if (this.calib.length >= this.p.calibration) {
      this.use({
        forest: current.m.forest,
        threshold: thresholdForContamination(this.calib, this.p.contamination),
        calibrated: true,
      });
      this.calib = [];
      this.calibSeen = 0;
    } else if (!this.provisional && this.calib.length >= Math.ceil(this.p.calibration / 5)) {
      // A first threshold from a fifth of the sample: far steadier than the training rows' one,
      // and several worker processes each filling the whole sample take a long while.
      this.provisional = true;
      this.use({
        forest: current.m.forest,
        threshold: thresholdForContamination(this.calib, this.p.contamination),
        calibrated: false,
      });
    }
  }

  /**
   * Trains when the reservoir is full and a model is due, at once: in a large batch (a backlog
   * at startup holds thousands of events per batch) the rest of the batch is scored with it.
   */
  trainNow(): void {
    if (!this.p.train || this.reservoir.length < this.p.window) return;
    const due = !this.model || (this.p.retrainMs > 0 && Date.now() - this.trainedAt >= this.p.retrainMs);
    if (!due) return;
    this.use(trainModel(this.reservoir, this.p));
    this.provisional = false;
    this.trainedAt = Date.now();
    this.reservoir = [];
    this.seen = 0;
    this.calib = [];
    this.calibSeen = 0;
  }

  /** A model made here: used at once (version 0 until stored), stored by `save`. */
  private use(m: DetectModel): void {
    this.model = { version: 0, m };
    this.unsaved = m;
  }

  /** Stores the model made here, if any, as the newest version for every worker. */
  async save(ctx: StageContext): Promise<void> {
    const m = this.unsaved;
    if (!m || this.saving) return;
    this.saving = true;
    try {
      const version = await ctx.services.models.save(this.p.model, encodeModel(m));
      if (this.model?.m === m) this.model = { version, m };
      if (this.unsaved === m) this.unsaved = undefined;
    } finally {
      this.saving = false;
    }
  }
}

const shared = new Map<string, Shared>();

/**
 * Built-in `detect`: scores enriched events with an Isolation Forest shared through the model
 * store, and flags those at or above the model's threshold. Until a model exists, and for a key
 * still warming up, it scores by the z-score instead (`fallbackSigma`). It adds `score`,
 * `scoreSource` (`forest` or `zscore`), `anomaly` and `model` (the version) to the event's JSON;
 * an event without a z-score (its key's first value) gets `score: null`.
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
      let model = sh.model;
      const out = batch.map((e) => {
        const record = isMetricRecord(e.data);
        // Metric records from enrich are read and written in place; JSON from a user's stage works too.
        const d = record ? undefined : (JSON.parse(e.data.toString()) as Record<string, unknown>);
        const read = d ?? recordFeatures(e.data);
        const f = features(read);
        if (f) {
          sh.add(f);
          sh.trainNow();
          model = sh.model;
        }
        let score: number | null = null;
        let source: ScoreSource = 'forest';
        let anomaly = false;
        if (f && model) {
          score = model.m.forest.score(f);
          sh.addScore(score);
          sh.calibrateNow();
          model = sh.model!;
          anomaly = isAnomaly(score, model.m.threshold) && Math.abs(f[0]) >= p.minSigma;
        } else {
          const z = fallbackScore(read);
          if (z !== undefined) {
            score = z;
            source = 'zscore';
            anomaly = z >= p.fallbackSigma;
          }
        }
        if (record) {
          writeScore(e.data, score, anomaly, model?.version ?? 0, source);
          return e;
        }
        Object.assign(d!, {
          score,
          ...(score !== null ? { scoreSource: source } : {}),
          anomaly,
          ...(model ? { model: model.version } : {}),
        });
        return { ...e, data: Buffer.from(JSON.stringify(d)) };
      });
      await sh.save(ctx);
      return out;
    },
  };
}
