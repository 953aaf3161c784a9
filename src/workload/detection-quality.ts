import { confusion, rocAuc } from '../ml/metrics.js';
import { decodeMetricRecord, isMetricRecord } from '../pipeline/stages/metric-record.js';
import { parseTruth, truthOf, type Truth } from './metric-workload.js';

/** How well the pipeline's anomaly flag and score match the events' ground truth. */
export interface DetectionQuality {
  events: number;
  anomalies: number;
  flagged: number;
  tp: number;
  fp: number;
  fn: number;
  precision: number;
  recall: number;
  f1: number;
  /** ROC AUC of the forest's score, over the events it scored. */
  auc: number;
  /**
   * Per scoring source (`forest`, `zscore` for the fallback while there is no model or the key warms
   * up): its events and anomalies, what it flagged, its precision and recall, and its ROC AUC.
   */
  bySource: Record<
    string,
    { events: number; anomalies: number; flagged: number; precision: number; recall: number; auc: number }
  >;
  /** Events without a score (no z-score yet: a key's first value); they count as not flagged. */
  unscored: number;
  /** Anomalies among them. */
  unscoredAnomalies: number;
  /** Recall per anomaly kind. */
  recallByKind: Record<string, { anomalies: number; detected: number; recall: number }>;
}

/** ROC AUC of one source's scores; NaN without both classes. */
function auc(s: { scores: number[]; labels: boolean[] } | undefined): number {
  return s && s.labels.includes(true) && s.labels.includes(false) ? rocAuc(s.scores, s.labels) : NaN;
}

/**
 * Collects (truth, flag, score) of delivered events: the events' ground truth (from the synthetic
 * workload) against what the pipeline's detection made of them.
 */
export class DetectionQualityTracker {
  private readonly labels: boolean[] = [];
  private readonly preds: boolean[] = [];
  private readonly sources = new Map<string, { scores: number[]; labels: boolean[]; preds: boolean[] }>();
  private unscored = 0;
  private unscoredAnomalies = 0;
  private readonly kinds = new Map<string, { anomalies: number; detected: number }>();
  private seen = false;

  /**
   * Counts a delivered event (a metric record or JSON) that carries ground truth and a detection
   * flag.
   * @returns its ground truth, flagged or not, for whatever else judges the run by it.
   */
  add(data: Buffer): Truth | undefined {
    let d: { truth: Truth | undefined; anomaly?: unknown; score?: unknown; scoreSource?: unknown };
    try {
      if (isMetricRecord(data)) {
        // The stages' verdict is in the record, the ground truth in the original event.
        const r = decodeMetricRecord(data);
        d = { truth: parseTruth(r.original), anomaly: r.anomaly, score: r.score, scoreSource: r.source };
      } else {
        const json = JSON.parse(data.toString()) as Record<string, unknown>;
        d = { ...json, truth: truthOf(json.truth) };
      }
    } catch {
      return undefined;
    }
    if (!d.truth || d.anomaly === undefined) return d.truth;
    this.seen = true;
    const flagged = d.anomaly === true;
    this.labels.push(d.truth.anomaly);
    this.preds.push(flagged);
    if (typeof d.score === 'number') {
      const name = typeof d.scoreSource === 'string' ? d.scoreSource : 'forest';
      const s = this.sources.get(name) ?? { scores: [], labels: [], preds: [] };
      s.scores.push(d.score);
      s.labels.push(d.truth.anomaly);
      s.preds.push(flagged);
      this.sources.set(name, s);
    } else {
      this.unscored++;
      if (d.truth.anomaly) this.unscoredAnomalies++;
    }
    if (d.truth.anomaly) {
      const k = this.kinds.get(d.truth.kind ?? 'unknown') ?? { anomalies: 0, detected: 0 };
      k.anomalies++;
      if (flagged) k.detected++;
      this.kinds.set(d.truth.kind ?? 'unknown', k);
    }
    return d.truth;
  }

  result(): DetectionQuality | undefined {
    if (!this.seen) return undefined;
    const c = confusion(this.preds, this.labels);
    const r = (x: number) => Math.round(x * 10_000) / 10_000;
    return {
      events: this.labels.length,
      anomalies: c.tp + c.fn,
      flagged: c.tp + c.fp,
      tp: c.tp,
      fp: c.fp,
      fn: c.fn,
      precision: r(c.precision),
      recall: r(c.recall),
      f1: r(c.f1),
      auc: r(auc(this.sources.get('forest'))),
      bySource: Object.fromEntries(
        [...this.sources].sort().map(([name, s]) => {
          const sc = confusion(s.preds, s.labels);
          return [
            name,
            {
              events: s.labels.length,
              anomalies: sc.tp + sc.fn,
              flagged: sc.tp + sc.fp,
              precision: r(sc.precision),
              recall: r(sc.recall),
              auc: r(auc(s)),
            },
          ];
        }),
      ),
      unscored: this.unscored,
      unscoredAnomalies: this.unscoredAnomalies,
      recallByKind: Object.fromEntries(
        [...this.kinds].sort().map(([k, v]) => [k, { ...v, recall: r(v.detected / v.anomalies) }]),
      ),
    };
  }
}
