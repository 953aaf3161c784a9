/**
 * Detection-quality measures for anomaly detectors, as pure functions over plain arrays.
 * A label `true` means "really an anomaly" (the positive class).
 */

/**
 * Area under the ROC curve: the probability that a random anomaly scores higher than a random normal
 * point, counting ties as one half.
 *
 * Computed from ranks (the Mann-Whitney U statistic) in O(n log n): sort once, give tied scores the
 * average of their ranks, then AUC = (sum of positive ranks - P(P+1)/2) / (P * N). That is exact,
 * unlike integrating a thresholded curve, and averaging ranks is what makes ties count one half.
 *
 * @throws RangeError if the lengths differ, a score is not a finite number, or there is no
 *   positive or no negative label (the AUC is undefined then; returning 0.5 or NaN would hide it).
 */
export function rocAuc(scores: ArrayLike<number>, labels: ArrayLike<boolean>): number {
  const n = scores.length;
  if (labels.length !== n) throw new RangeError(`rocAuc: ${n} scores but ${labels.length} labels`);
  let positives = 0;
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(scores[i])) throw new RangeError(`rocAuc: score ${i} is ${scores[i]}, not a finite number`);
    if (labels[i]) positives++;
  }
  const negatives = n - positives;
  if (positives === 0 || negatives === 0) {
    throw new RangeError(`rocAuc: needs both classes, got ${positives} positive and ${negatives} negative labels`);
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[a]! - scores[b]!);
  let positiveRankSum = 0;
  for (let start = 0; start < n;) {
    let end = start + 1;
    while (end < n && scores[order[end]!] === scores[order[start]!]) end++;
    // Ranks are 1-based: the tied group start..end-1 shares the mean of ranks start+1..end.
    const rank = (start + 1 + end) / 2;
    for (let k = start; k < end; k++) if (labels[order[k]!]) positiveRankSum += rank;
    start = end;
  }
  return (positiveRankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

/** Counts and rates of a set of binary predictions against the truth. */
export interface Confusion {
  tp: number;
  fp: number;
  tn: number;
  fn: number;
  /** tp / (tp + fp); 0 when nothing was predicted positive. */
  precision: number;
  /** tp / (tp + fn); 0 when there is no positive label. */
  recall: number;
  /** Harmonic mean of precision and recall, 2tp / (2tp + fp + fn); 0 when that is 0/0. */
  f1: number;
}

/** 0/0 is defined as 0 so that degenerate cases (no alarms, no anomalies) still give numbers. */
function ratio(num: number, den: number): number {
  return den === 0 ? 0 : num / den;
}

/**
 * Confusion matrix and precision / recall / F1 of `pred` (true = flagged as anomaly) against `labels`.
 *
 * @throws RangeError if the lengths differ.
 */
export function confusion(pred: ArrayLike<boolean>, labels: ArrayLike<boolean>): Confusion {
  if (pred.length !== labels.length)
    throw new RangeError(`confusion: ${pred.length} predictions but ${labels.length} labels`);
  let tp = 0;
  let fp = 0;
  let tn = 0;
  let fn = 0;
  for (let i = 0; i < pred.length; i++) {
    if (pred[i]) {
      if (labels[i]) tp++;
      else fp++;
    } else if (labels[i]) fn++;
    else tn++;
  }
  return {
    tp,
    fp,
    tn,
    fn,
    precision: ratio(tp, tp + fp),
    recall: ratio(tp, tp + fn),
    f1: ratio(2 * tp, 2 * tp + fp + fn),
  };
}
