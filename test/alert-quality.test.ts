import { describe, expect, it } from 'vitest';
import { AlertQualityTracker, pipelineCepRules } from '../src/workload/alert-quality.js';
import { pipelineSchema } from '../src/pipeline/definition.js';
import { DEFAULT_RULES, cepRulesSchema, type CepRuleInput } from '../src/pipeline/stages/cep/rules.js';
import { encodeMetricRecord } from '../src/pipeline/stages/metric-record.js';

const RUN = 'p-run';

/** An event's JSON as the workload writes it. */
function event(kind?: string, episode?: number): Buffer {
  const truth = kind ? `{"anomaly":true,"kind":"${kind}","episode":${episode}}` : '{"anomaly":false}';
  return Buffer.from(`{"key":"host-0001","type":"cpu","value":1,"time":1,"truth":${truth}}`);
}

function alert(rule: string, kind: string, seqs: number[], producer = RUN): Record<string, unknown> {
  return {
    id: `${rule}|k|0|1`,
    rule,
    kind,
    key: 'k',
    windowStart: 0,
    windowEnd: 1,
    evidence: seqs.map((s) => `${producer}:${s}`),
    time: 1,
  };
}

const RULES = cepRulesSchema.parse([
  {
    name: 'burst',
    kind: 'count',
    where: { anomaly: true },
    min: 2,
    window: '10s',
    for: ['level_shift', 'error_burst'],
  },
  { name: 'any', kind: 'count', where: { anomaly: true }, min: 1, window: '1s' },
  { name: 'rising', kind: 'trend', length: 3, for: ['level_shift'] },
  { name: 'quiet', kind: 'absence', window: '1m' },
] satisfies CepRuleInput[]);

/**
 * seq 1-3: level_shift episode 1; 4: normal; 5: spike episode 2; 6-9: error_burst episode 3; 10: normal;
 * 11: spike episode 4; 12-14: level_shift episode 5.
 */
function tracker(): AlertQualityTracker {
  const t = new AlertQualityTracker(RULES, RUN);
  const truth: [number, string | undefined, number?][] = [
    [1, 'level_shift', 1],
    [2, 'level_shift', 1],
    [3, 'level_shift', 1],
    [4, undefined],
    [5, 'spike', 2],
    [6, 'error_burst', 3],
    [7, 'error_burst', 3],
    [8, 'error_burst', 3],
    [9, 'error_burst', 3],
    [10, undefined],
    [11, 'spike', 4],
    [12, 'level_shift', 5],
    [13, 'level_shift', 5],
    [14, 'level_shift', 5],
  ];
  for (const [seq, kind, episode] of truth) t.addEvent(seq, event(kind, episode));
  return t;
}

const byRule = (t: AlertQualityTracker) => Object.fromEntries(t.result()!.rules.map((r) => [r.rule, r]));

describe('alert quality', () => {
  it('precision: the share of alerts whose evidence holds a labelled anomaly, of any kind for a flag rule', () => {
    const t = tracker();
    t.addAlert(alert('burst', 'count', [1, 2])); // level shift
    t.addAlert(alert('burst', 'count', [4, 5])); // a spike: true, though not what the rule is for
    t.addAlert(alert('burst', 'count', [4, 10])); // normal events only: false
    t.addAlert(alert('any', 'count', [10]));
    expect(byRule(t).burst).toMatchObject({ alerts: 3, trueAlerts: 2, precision: 0.6667 });
    expect(byRule(t).any).toMatchObject({ alerts: 1, trueAlerts: 0, precision: 0 });
  });

  it('coverage: the episodes of the kinds a rule is for with an event in its alerts, each counted once', () => {
    const t = tracker();
    t.addAlert(alert('burst', 'count', [1, 2]));
    t.addAlert(alert('burst', 'count', [2, 3])); // episode 1 again
    t.addAlert(alert('burst', 'count', [5, 6])); // the spike is not a kind it is for; the burst is
    t.addAlert(alert('any', 'count', [5]));
    t.addAlert(alert('any', 'count', [11]));
    const r = byRule(t);
    // For level_shift and error_burst: episodes 1, 3, 5.
    expect(r.burst).toMatchObject({ for: ['level_shift', 'error_burst'], episodes: 3, covered: 2, coverage: 0.6667 });
    // For every kind: 5 episodes, the two spikes covered.
    expect(r.any).toMatchObject({ episodes: 5, covered: 2, coverage: 0.4 });
    expect(r.any!.for).toBeUndefined();
    // Any rule: episodes 1, 2, 3, 4; 5 is not.
    expect(t.result()).toMatchObject({ episodes: 5, covered: 4, coverage: 0.8 });
  });

  it('covered by any rule: of the episodes of the kinds the rules are for, the others counted apart', () => {
    const t = new AlertQualityTracker(
      RULES.filter((r) => r.for),
      RUN,
    );
    for (const [seq, kind, episode] of [
      [1, 'level_shift', 1],
      [2, 'spike', 2],
      [3, 'drop', 3],
      [4, 'error_burst', 4],
    ] as const)
      t.addEvent(seq, event(kind, episode));
    t.addAlert(alert('burst', 'count', [1]));
    expect(t.result()).toMatchObject({ episodes: 2, covered: 1, coverage: 0.5, unaimed: { drop: 1, spike: 1 } });
  });

  it("a trend rule's alert is true only with an anomaly of a kind it is for", () => {
    const t = tracker();
    t.addAlert(alert('rising', 'trend', [4, 5, 10])); // a spike: rising values by chance around it
    t.addAlert(alert('rising', 'trend', [10, 11, 12])); // reaches into level shift 5
    t.addAlert(alert('rising', 'trend', [6, 7, 8])); // an error burst
    expect(byRule(t).rising).toMatchObject({ alerts: 3, trueAlerts: 1, episodes: 2, covered: 1, coverage: 0.5 });
  });

  it('rules without alerts, and rules no longer in the pipeline, are reported', () => {
    const t = tracker();
    t.addAlert(alert('gone', 'count', [5]));
    const r = t.result()!;
    expect(r.rules.map((q) => q.rule)).toEqual(['burst', 'any', 'rising', 'quiet', 'gone']);
    expect(byRule(t).quiet).toMatchObject({ alerts: 0, trueAlerts: 0, covered: 0, episodes: 5, coverage: 0 });
    expect(byRule(t).quiet!.precision).toBeNaN();
    expect(byRule(t).gone).toMatchObject({ kind: 'count', alerts: 1, trueAlerts: 1, covered: 1 });
  });

  it("ignores other runs' alerts, and other runs' events in an alert of this run", () => {
    const t = tracker();
    t.addAlert(alert('burst', 'count', [1, 2], 'p-other'));
    t.addAlert(alert('any', 'count', [5], 'p-run-2'));
    t.addAlert({ rule: 'any', kind: 'count', evidence: ['p-other:4', `${RUN}:10`] });
    t.addAlert({ rule: 'any', kind: 'count', evidence: 'p-run:5' });
    const r = t.result()!;
    expect(r.otherRuns).toBe(3);
    expect(byRule(t).burst).toMatchObject({ alerts: 0, covered: 0 });
    expect(byRule(t).any).toMatchObject({ alerts: 1, trueAlerts: 0, covered: 0 });
  });

  it('reads the truth of metric records, and gives nothing without ground truth', () => {
    const t = new AlertQualityTracker(RULES, RUN);
    const record = (original: Buffer) =>
      encodeMetricRecord({
        type: 'cpu',
        value: 1,
        time: 1,
        ready: true,
        degraded: false,
        mean: 0,
        std: 1,
        z: 0,
        delta: 0,
        score: null,
        source: null,
        anomaly: false,
        model: 0,
        ref: Buffer.alloc(0),
        original,
      });
    t.addEvent(1, record(event('drop', 7)));
    t.addEvent(2, record(event()));
    t.addAlert(alert('any', 'count', [1]));
    expect(t.result()).toMatchObject({ episodes: 1, covered: 1 });
    expect(byRule(t).any).toMatchObject({ trueAlerts: 1, covered: 1 });

    const none = new AlertQualityTracker(RULES, RUN);
    none.addEvent(1, Buffer.from('{"key":"a","value":1}'));
    none.addAlert(alert('any', 'count', [1]));
    expect(none.result()).toBeUndefined();
  });
});

describe('pipelineCepRules', () => {
  it('the rules of a cep stage or step, the defaults when it gives none; undefined without one', () => {
    const def = (stages: unknown) => pipelineSchema.parse({ stages });
    expect(pipelineCepRules(def([{ name: 'a', steps: [{ use: 'enrich' }, { use: 'cep' }] }]))).toEqual(DEFAULT_RULES);
    const own = { rules: [{ name: 'r', kind: 'absence', window: '1m', for: ['spike'] }] };
    expect(pipelineCepRules(def([{ name: 'c', use: 'cep', params: own }]))).toEqual([
      { name: 'r', kind: 'absence', window: 60_000, lateness: 5000, cooldown: 60_000, where: [], for: ['spike'] },
    ]);
    expect(pipelineCepRules(def([{ name: 'p', use: 'passthrough' }]))).toBeUndefined();
  });
});
