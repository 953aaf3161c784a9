/**
 * How well the cep stage's alerts match the events' ground truth, judged by anomaly episode (see
 * metric-workload.ts): an operator acts on an alert, so a rule is worth its alerts that point at a
 * real anomaly (precision) and the episodes it points at (coverage), however many events either has.
 */
import type { PipelineDefinition } from '../pipeline/definition.js';
import type { EmittedReader } from '../pipeline/emitted-reader.js';
import { cepRules } from '../pipeline/stages/cep/cep.js';
import type { CepRule } from '../pipeline/stages/cep/rules.js';
import { decodeMetricRecord, isMetricRecord } from '../pipeline/stages/metric-record.js';
import { parseTruth, type Truth } from './metric-workload.js';

/** One rule's alerts of the audited run against the ground truth. */
export interface RuleAlertQuality {
  rule: string;
  /** The rule's kind: count, sequence, trend, absence. */
  kind: string;
  /** The ground-truth kinds the rule is for; absent: every kind. */
  for?: string[];
  alerts: number;
  /** Alerts whose evidence holds a labelled anomaly (a trend rule's: one of a kind it is for). */
  trueAlerts: number;
  /** trueAlerts / alerts; NaN (null in JSON) without alerts. */
  precision: number;
  /** Episodes of the kinds the rule is for. */
  episodes: number;
  /** Those with an event in the evidence of one of the rule's alerts. */
  covered: number;
  /** covered / episodes; NaN (null in JSON) without episodes. */
  coverage: number;
}

/** The alerts of a run against the ground truth of its delivered events. */
export interface AlertQuality {
  /** Per rule of the pipeline (then rules that raised alerts and are no longer in it), in their order. */
  rules: RuleAlertQuality[];
  /** Episodes among the delivered events, of the kinds some rule of the pipeline is for. */
  episodes: number;
  /** Those covered by any rule (in the evidence of an alert of a rule that is for their kind). */
  covered: number;
  coverage: number;
  /**
   * Episodes of the kinds no rule of the pipeline is for, by kind: the anomaly flag reports them
   * (single-event spikes, say), no alert is meant to.
   */
  unaimed: Record<string, number>;
  /** Alerts in the alerts streams with no event of this run in their evidence: other runs', not counted. */
  otherRuns: number;
}

/** A labelled event of the run: its kind and episode (undefined for a label without one). */
interface Label {
  kind: string;
  episode: number | undefined;
}

interface RuleTally {
  rule: string;
  kind: string;
  for: Set<string> | undefined;
  alerts: number;
  trueAlerts: number;
  covered: Set<number>;
}

/**
 * The rules of the pipeline's cep stages (a stage or a fused step that uses `cep`; their params' rules or the defaults),
 * a rule named twice counted once; undefined when the pipeline has no cep stage.
 */
export function pipelineCepRules(definition: PipelineDefinition): readonly CepRule[] | undefined {
  const params = definition.stages.flatMap((s) =>
    s.steps
      ? s.steps.filter((step) => step.use === 'cep').map((step) => step.params)
      : s.use === 'cep'
        ? [s.params]
        : [],
  );
  if (!params.length) return undefined;
  const byName = new Map<string, CepRule>();
  for (const p of params) for (const r of cepRules(p)) if (!byName.has(r.name)) byName.set(r.name, r);
  return [...byName.values()];
}

const round = (x: number) => Math.round(x * 10_000) / 10_000;

/**
 * Judges the alerts of one run (by its producer id) by the ground truth of its delivered events: first every delivered
 * event (`addEvent`, or `addTruth` with its truth already read), then the alerts (`addAlert`). It keeps only the
 * labelled events (seq -> kind, episode) and the episodes' kinds, so about 1% of the events of the synthetic workload.
 */
export class AlertQualityTracker {
  private readonly labels = new Map<number, Label>();
  private readonly episodeKinds = new Map<number, string>();
  private readonly tallies = new Map<string, RuleTally>();
  private otherRuns = 0;
  private truthSeen = false;

  /** The kinds the pipeline's rules are for; undefined: every kind (a rule without `for`). */
  private readonly aimed: Set<string> | undefined;

  constructor(
    rules: readonly CepRule[],
    private readonly producer: string,
  ) {
    for (const r of rules) this.tally(r.name, r.kind, r.for);
    this.aimed = rules.every((r) => r.for) ? new Set(rules.flatMap((r) => r.for!)) : undefined;
  }

  /** A delivered event of the run: a metric record or the producer's JSON. */
  addEvent(seq: number, data: Buffer): void {
    let truth: Truth | undefined;
    try {
      truth = parseTruth(isMetricRecord(data) ? decodeMetricRecord(data).original : data);
    } catch {
      return; // a malformed record carries no truth to judge by
    }
    this.addTruth(seq, truth);
  }

  /** A delivered event of the run by its ground truth, already read (`DetectionQualityTracker.add` gives it). */
  addTruth(seq: number, truth: Truth | undefined): void {
    if (!truth) return;
    this.truthSeen = true;
    if (!truth.anomaly) return;
    const kind = truth.kind ?? 'unknown';
    this.labels.set(seq, { kind, episode: truth.episode });
    if (truth.episode !== undefined) this.episodeKinds.set(truth.episode, kind);
  }

  /** An alert as the cep stage writes it; one without an event of the run in its evidence is another run's. */
  addAlert(alert: Record<string, unknown>): void {
    const evidence = Array.isArray(alert.evidence) ? alert.evidence : [];
    const seqs: number[] = [];
    for (const id of evidence) {
      if (typeof id !== 'string') continue;
      const at = id.lastIndexOf(':');
      if (at < 0 || id.slice(0, at) !== this.producer) continue;
      const seq = Number(id.slice(at + 1));
      if (Number.isInteger(seq)) seqs.push(seq);
    }
    if (!seqs.length) {
      this.otherRuns++;
      return;
    }
    const t = this.tally(String(alert.rule), String(alert.kind ?? ''), undefined);
    t.alerts++;
    let hit = false;
    for (const seq of seqs) {
      const label = this.labels.get(seq);
      if (!label) continue;
      const aimed = !t.for || t.for.has(label.kind);
      // A trend matches on values, not on anomaly flags: rising values come with any anomaly and with noise alone, so
      // only an anomaly of a kind it is for makes its alert true.
      if (aimed || t.kind !== 'trend') hit = true;
      if (aimed && label.episode !== undefined) t.covered.add(label.episode);
    }
    if (hit) t.trueAlerts++;
  }

  /** Undefined when no delivered event carried ground truth. */
  result(): AlertQuality | undefined {
    if (!this.truthSeen) return undefined;
    const perKind = new Map<string, number>();
    for (const kind of this.episodeKinds.values()) perKind.set(kind, (perKind.get(kind) ?? 0) + 1);
    const any = new Set<number>();
    const rules = [...this.tallies.values()].map((t): RuleAlertQuality => {
      let episodes = 0;
      for (const [kind, n] of perKind) if (!t.for || t.for.has(kind)) episodes += n;
      for (const e of t.covered) any.add(e);
      return {
        rule: t.rule,
        kind: t.kind,
        ...(t.for ? { for: [...t.for] } : {}),
        alerts: t.alerts,
        trueAlerts: t.trueAlerts,
        precision: round(t.trueAlerts / t.alerts),
        episodes,
        covered: t.covered.size,
        coverage: round(t.covered.size / episodes),
      };
    });
    let episodes = 0;
    const unaimed: Record<string, number> = {};
    for (const [kind, n] of [...perKind].sort()) {
      if (!this.aimed || this.aimed.has(kind)) episodes += n;
      else unaimed[kind] = n;
    }
    return {
      rules,
      episodes,
      covered: any.size,
      coverage: round(any.size / episodes),
      unaimed,
      otherRuns: this.otherRuns,
    };
  }

  private tally(rule: string, kind: string, kinds: readonly string[] | undefined): RuleTally {
    let t = this.tallies.get(rule);
    if (!t) {
      t = { rule, kind, for: kinds ? new Set(kinds) : undefined, alerts: 0, trueAlerts: 0, covered: new Set() };
      this.tallies.set(rule, t);
    }
    return t;
  }
}

/** Feeds every alert the reader has (all of them, page by page) to the tracker. */
export async function addAlerts(tracker: AlertQualityTracker, reader: EmittedReader): Promise<void> {
  for (let page = await reader.next(); page.length; page = await reader.next())
    for (const a of page) tracker.addAlert(a);
}
