import { describe, expect, it } from 'vitest';
import { CepEngine } from '../src/pipeline/stages/cep/engine.js';
import type { CepAlert, CepEvent } from '../src/pipeline/stages/cep/event.js';
import { DEFAULT_RULES, cepRulesSchema, type CepRule, type CepRuleInput } from '../src/pipeline/stages/cep/rules.js';
import { prng } from '../src/ml/random.js';

const S = 1000;
/** The key of the event that advances the watermark at the end of a run. */
const TICK = '~tick';

function ev(id: string, key: string, time: number, type = 'cpu', value = 1, extra: Partial<CepEvent> = {}): CepEvent {
  return { id, key, time, type, value, ...extra };
}
/** An anomalous cpu event. */
function anomaly(id: string, key: string, time: number, value = 99): CepEvent {
  return ev(id, key, time, 'cpu', value, { anomaly: true, score: 0.9 });
}
function errors(id: string, key: string, time: number, value = 5): CepEvent {
  return ev(id, key, time, 'errors', value);
}
function latency(id: string, key: string, time: number, value: number): CepEvent {
  return ev(id, key, time, 'latency', value);
}
function tick(time: number): CepEvent {
  return ev(`tick@${time}`, TICK, time, 'tick', 0);
}

function rules(...inputs: CepRuleInput[]): CepRule[] {
  return cepRulesSchema.parse(inputs);
}

const COUNT = rules({ name: 'burst', kind: 'count', where: { anomaly: true }, min: 3, window: '60s' });
const SEQUENCE = rules({
  name: 'spike',
  kind: 'sequence',
  first: { anomaly: true },
  second: { type: 'errors' },
  within: '30s',
});
const TREND = rules({ name: 'rising', kind: 'trend', where: { type: 'latency' }, length: 4, maxGap: '60s' });
const ABSENCE = rules({ name: 'silent', kind: 'absence', window: '120s' });
/** A rule of every kind, for what must hold whatever the kinds. */
const ALL_KINDS = rules(
  { name: 'burst', kind: 'count', where: { anomaly: true }, min: 3, window: '60s' },
  {
    name: 'then-errors',
    kind: 'sequence',
    first: { anomaly: true },
    second: [{ type: 'errors' }, { field: 'value', op: '>', value: 0 }],
    within: '30s',
  },
  { name: 'rising', kind: 'trend', where: { type: 'latency' }, length: 5 },
  { name: 'silent', kind: 'absence', window: '120s' },
);

/**
 * Feeds the batches to a fresh engine, then a tick event at `until` (default: a day after the last
 * event) so that the watermark passes everything; returns the alerts of other keys than the tick's.
 */
function run(rs: readonly CepRule[], batches: CepEvent[][], until?: number): { alerts: CepAlert[]; engine: CepEngine } {
  const engine = new CepEngine(rs);
  const alerts = batches.flatMap((b) => engine.process(b));
  const last = Math.max(0, ...batches.flat().map((e) => e.time));
  alerts.push(...engine.process([tick(until ?? last + 86_400 * S)]));
  return { alerts: alerts.filter((a) => a.key !== TICK), engine };
}

const ids = (alerts: CepAlert[]) => alerts.map((a) => a.id);

interface Case {
  name: string;
  rules: CepRule[];
  events: CepEvent[];
  /** Tick time; default a day after the last event. */
  until?: number;
  /** Expected alert ids, in order. */
  expect: string[];
}

const countCases: Case[] = [
  {
    name: 'min events in the window',
    rules: COUNT,
    events: [anomaly('a1', 'a', 0), anomaly('a2', 'a', 20 * S), anomaly('a3', 'a', 40 * S)],
    expect: ['burst|a|0|40000'],
  },
  {
    name: 'min-1 in the window',
    rules: COUNT,
    events: [anomaly('a1', 'a', 0), anomaly('a2', 'a', 30 * S), ev('n1', 'a', 40 * S)],
    expect: [],
  },
  {
    name: 'window boundary is inclusive',
    rules: COUNT,
    events: [anomaly('a1', 'a', 0), anomaly('a2', 'a', 30 * S), anomaly('a3', 'a', 60 * S)],
    expect: ['burst|a|0|60000'],
  },
  {
    name: 'one ms beyond the window',
    rules: COUNT,
    events: [anomaly('a1', 'a', 0), anomaly('a2', 'a', 30 * S), anomaly('a3', 'a', 60 * S + 1)],
    expect: [],
  },
  {
    name: 'events that do not match do not count',
    rules: COUNT,
    events: [
      anomaly('a1', 'a', 0),
      ev('n1', 'a', 1 * S, 'cpu', 99, { anomaly: false }),
      ev('n2', 'a', 2 * S),
      anomaly('a2', 'a', 3 * S),
    ],
    expect: [],
  },
  {
    name: 'slides: the oldest falls out, later ones complete',
    rules: COUNT,
    events: [
      anomaly('a1', 'a', 0),
      anomaly('a2', 'a', 50 * S),
      anomaly('a3', 'a', 70 * S),
      anomaly('a4', 'a', 100 * S),
    ],
    expect: ['burst|a|50000|100000'],
  },
  {
    name: 'per key: 2 + 2 across keys is no burst',
    rules: COUNT,
    events: [anomaly('a1', 'a', 0), anomaly('b1', 'b', 1 * S), anomaly('a2', 'a', 2 * S), anomaly('b2', 'b', 3 * S)],
    expect: [],
  },
  {
    name: 'cooldown (default = window) holds back repeats, then the window ending later fires',
    rules: COUNT,
    events: [0, 10, 20, 30, 50, 79, 80].map((t, i) => anomaly(`a${i}`, 'a', t * S)),
    expect: ['burst|a|0|20000', 'burst|a|50000|80000'],
  },
  {
    name: 'cooldown 0: every completing event fires',
    rules: rules({ name: 'burst', kind: 'count', where: { anomaly: true }, min: 3, window: '60s', cooldown: 0 }),
    events: [0, 10, 20, 30].map((t, i) => anomaly(`a${i}`, 'a', t * S)),
    expect: ['burst|a|0|20000', 'burst|a|10000|30000'],
  },
  {
    name: 'a field comparison',
    rules: rules({
      name: 'hot',
      kind: 'count',
      where: [{ type: 'cpu' }, { field: 'value', op: '>', value: 90 }],
      min: 2,
      window: 10_000,
    }),
    events: [
      ev('c1', 'a', 0, 'cpu', 95),
      ev('c2', 'a', 1 * S, 'cpu', 90),
      ev('m1', 'a', 2 * S, 'mem', 99),
      ev('c3', 'a', 3 * S, 'cpu', 91),
    ],
    expect: ['hot|a|0|3000'],
  },
  {
    name: 'a comparison with a missing field never holds',
    rules: rules({
      name: 'scored',
      kind: 'count',
      where: { field: 'score', op: '!=', value: 1 },
      min: 2,
      window: '10s',
    }),
    events: [ev('x1', 'a', 0), ev('x2', 'a', 1 * S), ev('x3', 'a', 2 * S, 'cpu', 1, { score: 0.2 })],
    expect: [],
  },
];

const sequenceCases: Case[] = [
  {
    name: 'A then B within',
    rules: SEQUENCE,
    events: [anomaly('a1', 'a', 0), errors('e1', 'a', 10 * S)],
    expect: ['spike|a|0|10000'],
  },
  { name: 'B before A', rules: SEQUENCE, events: [errors('e1', 'a', 0), anomaly('a1', 'a', 10 * S)], expect: [] },
  {
    name: 'B exactly `within` after A',
    rules: SEQUENCE,
    events: [anomaly('a1', 'a', 0), errors('e1', 'a', 30 * S)],
    expect: ['spike|a|0|30000'],
  },
  {
    name: 'B after `within`',
    rules: SEQUENCE,
    events: [anomaly('a1', 'a', 0), errors('e1', 'a', 30 * S + 1)],
    expect: [],
  },
  {
    name: 'A and B at the same time',
    rules: SEQUENCE,
    events: [anomaly('a1', 'a', 5 * S), errors('e1', 'a', 5 * S)],
    expect: [],
  },
  {
    name: 'A and B of different keys',
    rules: SEQUENCE,
    events: [anomaly('a1', 'a', 0), errors('e1', 'b', 10 * S)],
    expect: [],
  },
  {
    name: 'the latest A before B is the evidence',
    rules: SEQUENCE,
    events: [anomaly('a1', 'a', 0), anomaly('a2', 'a', 5 * S), anomaly('a3', 'a', 20 * S), errors('e1', 'a', 20 * S)],
    expect: ['spike|a|5000|20000'],
  },
  {
    name: 'an A is used once (cooldown 0)',
    rules: rules({
      name: 'spike',
      kind: 'sequence',
      first: { anomaly: true },
      second: { type: 'errors' },
      within: '30s',
      cooldown: 0,
    }),
    events: [
      anomaly('a1', 'a', 0),
      errors('e1', 'a', 10 * S),
      errors('e2', 'a', 20 * S),
      anomaly('a2', 'a', 21 * S),
      errors('e3', 'a', 22 * S),
    ],
    expect: ['spike|a|0|10000', 'spike|a|21000|22000'],
  },
  {
    name: 'cooldown (default = within) holds back a second pair',
    rules: SEQUENCE,
    events: [
      anomaly('a1', 'a', 0),
      errors('e1', 'a', 10 * S),
      anomaly('a2', 'a', 20 * S),
      errors('e2', 'a', 25 * S),
      anomaly('a3', 'a', 39 * S),
      errors('e3', 'a', 40 * S),
    ],
    expect: ['spike|a|0|10000', 'spike|a|39000|40000'],
  },
];

const trendCases: Case[] = [
  {
    name: 'length increasing values',
    rules: TREND,
    events: [10, 20, 30, 40].map((v, i) => latency(`l${i}`, 'a', i * S, v)),
    expect: ['rising|a|0|3000'],
  },
  {
    name: 'length-1 increasing values',
    rules: TREND,
    events: [10, 20, 30].map((v, i) => latency(`l${i}`, 'a', i * S, v)),
    expect: [],
  },
  {
    name: 'an equal value breaks the run',
    rules: TREND,
    events: [10, 20, 20, 30].map((v, i) => latency(`l${i}`, 'a', i * S, v)),
    expect: [],
  },
  {
    name: 'the run restarts at the equal value',
    rules: TREND,
    events: [10, 20, 20, 30, 40, 50].map((v, i) => latency(`l${i}`, 'a', i * S, v)),
    expect: ['rising|a|2000|5000'],
  },
  {
    name: 'a decrease breaks the run',
    rules: TREND,
    events: [10, 20, 15, 30, 40].map((v, i) => latency(`l${i}`, 'a', i * S, v)),
    expect: [],
  },
  {
    name: 'other event types do not break it',
    rules: TREND,
    events: [
      latency('l0', 'a', 0, 10),
      ev('c0', 'a', 1 * S, 'cpu', 1),
      latency('l1', 'a', 2 * S, 11),
      ev('c1', 'a', 3 * S, 'cpu', 0),
      latency('l2', 'a', 4 * S, 12),
      latency('l3', 'a', 5 * S, 13),
    ],
    expect: ['rising|a|0|5000'],
  },
  {
    name: 'values of another key do not continue it',
    rules: TREND,
    events: [
      latency('a0', 'a', 0, 1),
      latency('a1', 'a', 1 * S, 2),
      latency('b0', 'b', 2 * S, 3),
      latency('b1', 'b', 3 * S, 4),
    ],
    expect: [],
  },
  {
    name: 'a run of 2*length fires twice, with disjoint evidence',
    rules: TREND,
    events: [1, 2, 3, 4, 5, 6, 7, 8].map((v, i) => latency(`l${i}`, 'a', i * S, v)),
    expect: ['rising|a|0|3000', 'rising|a|4000|7000'],
  },
  {
    name: 'a gap beyond maxGap breaks the run',
    rules: TREND,
    events: [
      latency('l0', 'a', 0, 1),
      latency('l1', 'a', 1 * S, 2),
      latency('l2', 'a', 62 * S, 3),
      latency('l3', 'a', 63 * S, 4),
    ],
    expect: [],
  },
];

const absenceCases: Case[] = [
  {
    name: 'silent for longer than the window',
    rules: ABSENCE,
    events: [ev('a1', 'a', 0)],
    until: 200 * S,
    expect: ['silent|a|0|120000'],
  },
  // The watermark is the tick's time minus the 5s lateness: it must pass the deadline.
  {
    name: 'watermark exactly at the deadline: not yet',
    rules: ABSENCE,
    events: [ev('a1', 'a', 0)],
    until: 125 * S,
    expect: [],
  },
  {
    name: 'watermark just past the deadline',
    rules: ABSENCE,
    events: [ev('a1', 'a', 0)],
    until: 125 * S + 1,
    expect: ['silent|a|0|120000'],
  },
  {
    name: 'cut short by an event',
    rules: ABSENCE,
    events: [ev('a1', 'a', 0), ev('a2', 'a', 100 * S)],
    until: 200 * S,
    expect: [],
  },
  {
    name: 'cut short by an event exactly at the deadline',
    rules: ABSENCE,
    events: [ev('a1', 'a', 0), ev('a2', 'a', 120 * S)],
    until: 200 * S,
    expect: [],
  },
  {
    name: 'an event of another key does not cut it short',
    rules: ABSENCE,
    events: [ev('a1', 'a', 0), ev('b1', 'b', 100 * S)],
    until: 200 * S,
    expect: ['silent|a|0|120000'],
  },
  {
    name: 'fires once per silence, again after the key came back',
    rules: ABSENCE,
    events: [ev('a1', 'a', 0), ev('b1', 'b', 400 * S), ev('a2', 'a', 401 * S)],
    until: 600 * S,
    expect: ['silent|a|0|120000', 'silent|b|400000|520000', 'silent|a|401000|521000'],
  },
  {
    name: 'only matching events count as seen',
    rules: rules({ name: 'no-cpu', kind: 'absence', where: { type: 'cpu' }, window: '60s' }),
    events: [
      ev('c1', 'a', 0, 'cpu'),
      ev('m1', 'a', 30 * S, 'mem'),
      ev('m2', 'a', 90 * S, 'mem'),
      ev('m3', 'b', 0, 'mem'),
    ],
    until: 100 * S,
    expect: ['no-cpu|a|0|60000'],
  },
];

describe('cep engine: rule kinds', () => {
  for (const [kind, cases] of [
    ['count', countCases],
    ['sequence', sequenceCases],
    ['trend', trendCases],
    ['absence', absenceCases],
  ] as const) {
    describe(kind, () => {
      it.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
        const { alerts } = run(c.rules, [c.events], c.until);
        expect(ids(alerts)).toEqual(c.expect);
        for (const a of alerts) {
          expect(a.kind).toBe(c.rules[0]!.kind);
          expect(a.id).toBe(`${a.rule}|${a.key}|${a.windowStart}|${a.windowEnd}`);
        }
      });
    });
  }

  it('an alert carries its evidence and the event time of detection', () => {
    const count = run(COUNT, [
      [anomaly('a1', 'a', 1 * S), ev('x', 'a', 2 * S), anomaly('a2', 'a', 3 * S), anomaly('a3', 'a', 4 * S)],
    ]).alerts;
    expect(count).toEqual([
      {
        id: 'burst|a|1000|4000',
        rule: 'burst',
        kind: 'count',
        key: 'a',
        windowStart: 1000,
        windowEnd: 4000,
        evidence: ['a1', 'a2', 'a3'],
        time: 4000,
      },
    ]);
    const seq = run(SEQUENCE, [[anomaly('a1', 'k', 0), errors('e1', 'k', 7 * S)]]).alerts;
    expect(seq[0]).toMatchObject({
      kind: 'sequence',
      evidence: ['a1', 'e1'],
      windowStart: 0,
      windowEnd: 7000,
      time: 7000,
    });
    const trend = run(TREND, [[5, 6, 7, 8].map((v, i) => latency(`l${i}`, 'k', i * S, v))]).alerts;
    expect(trend[0]).toMatchObject({ kind: 'trend', evidence: ['l0', 'l1', 'l2', 'l3'], time: 3000 });
    const absence = run(ABSENCE, [[ev('s1', 'k', 10 * S)]], 500 * S).alerts;
    expect(absence[0]).toMatchObject({
      kind: 'absence',
      evidence: ['s1'],
      windowStart: 10_000,
      windowEnd: 130_000,
      time: 130_000,
    });
  });

  it('alerts wait for the watermark (newest event time minus the largest lateness)', () => {
    const engine = new CepEngine(SEQUENCE);
    expect(engine.process([anomaly('a1', 'a', 0), errors('e1', 'a', 10 * S)])).toEqual([]);
    expect(engine.process([ev('x1', 'b', 15 * S)])).toEqual([]); // watermark 10s: e1 not passed yet
    expect(ids(engine.process([ev('x2', 'b', 15 * S + 1)]))).toEqual(['spike|a|0|10000']);
    expect(engine.stats()).toMatchObject({ maxTime: 15_001, watermark: 10_001 });
  });

  it('several rules: alerts come out in event-time order, rules in declaration order at equal times', () => {
    const rs = rules(
      { name: 'two-errors', kind: 'count', where: { type: 'errors' }, min: 2, window: '1m' },
      { name: 'spike', kind: 'sequence', first: { anomaly: true }, second: { type: 'errors' }, within: '30s' },
      { name: 'silent', kind: 'absence', window: '10s' },
    );
    const { alerts } = run(
      rs,
      [[anomaly('a1', 'a', 0), errors('e1', 'a', 5 * S), errors('e2', 'a', 8 * S), ev('b1', 'b', 9 * S)]],
      40 * S,
    );
    expect(ids(alerts)).toEqual([
      'spike|a|0|5000',
      'two-errors|a|5000|8000',
      'silent|a|8000|18000',
      'silent|b|9000|19000',
    ]);
  });
});

/** Reorders events so that each arrives at most `lateness` ms after events with later times. */
function jitter(events: CepEvent[], lateness: number, seed: number): CepEvent[] {
  const rand = prng(seed);
  return events
    .map((e) => ({ e, at: e.time + Math.floor(rand() * lateness) }))
    .sort((a, b) => a.at - b.at)
    .map((x) => x.e);
}

/** Metric events of a few keys: anomalies, errors, latency random walks, and silences. */
function workload(n: number, seed: number): CepEvent[] {
  const rand = prng(seed);
  const keys = ['k0', 'k1', 'k2', 'k3'];
  const lat = new Map<string, number>();
  const events: CepEvent[] = [];
  let t = 1_000_000;
  for (let i = 0; i < n; i++) {
    t += rand() < 0.03 ? 130 * S : Math.floor(rand() * 3) * S; // equal times, and now and then a silence
    const key = keys[Math.floor(rand() * keys.length)]!;
    const r = rand();
    if (r < 0.4) {
      const v = (lat.get(key) ?? 100) + (rand() < 0.75 ? 1 + Math.floor(rand() * 5) : -Math.floor(rand() * 20));
      lat.set(key, v);
      events.push(latency(`p:${i}`, key, t, v));
    } else if (r < 0.7) {
      events.push(errors(`p:${i}`, key, t, Math.floor(rand() * 3)));
    } else {
      const anomalous = rand() < 0.5;
      events.push(
        ev(`p:${i}`, key, t, 'cpu', anomalous ? 95 : 40, { anomaly: anomalous, score: anomalous ? 0.9 : 0.1 }),
      );
    }
  }
  return events;
}

describe('cep engine: event time', () => {
  it('out-of-order events within lateness give the same alerts and state as in order', () => {
    const events = workload(600, 7);
    const inOrder = run(ALL_KINDS, [events]);
    const kinds = new Set(inOrder.alerts.map((a) => a.kind));
    expect([...kinds].sort()).toEqual(['absence', 'count', 'sequence', 'trend']);
    for (const seed of [1, 2, 3]) {
      const shuffled = jitter(events, 5 * S, seed);
      expect(shuffled.map((e) => e.id)).not.toEqual(events.map((e) => e.id));
      for (const batch of [1, 7, 600]) {
        const batches = Array.from({ length: Math.ceil(shuffled.length / batch) }, (_, i) =>
          shuffled.slice(i * batch, (i + 1) * batch),
        );
        const r = run(ALL_KINDS, batches);
        expect(r.engine.stats().lateDropped).toEqual({
          burst: 0,
          'then-errors': 0,
          rising: 0,
          silent: 0,
        });
        expect(r.alerts).toEqual(inOrder.alerts);
        expect(r.engine.snapshot().toString()).toBe(inOrder.engine.snapshot().toString());
      }
    }
  });

  it.each([
    ['count', COUNT, [anomaly('a1', 'a', 0), anomaly('a3', 'a', 4 * S), anomaly('a2', 'a', 2 * S)], ['burst|a|0|4000']],
    [
      'sequence: B arrives before an earlier A',
      SEQUENCE,
      [errors('e1', 'a', 4 * S), anomaly('a1', 'a', 0)],
      ['spike|a|0|4000'],
    ],
    [
      'trend',
      TREND,
      [
        latency('l1', 'a', 1 * S, 2),
        latency('l0', 'a', 0, 1),
        latency('l3', 'a', 3 * S, 4),
        latency('l2', 'a', 2 * S, 3),
      ],
      ['rising|a|0|3000'],
    ],
    [
      'absence: an event arriving after a later one still cuts it short',
      rules({ name: 'silent', kind: 'absence', window: '5s', lateness: '5s' }),
      [ev('a1', 'a', 0), ev('b1', 'b', 8 * S), ev('a2', 'a', 4 * S)],
      ['silent|a|4000|9000', 'silent|b|8000|13000'],
    ],
  ] as const)('out of order within lateness: %s', (_name, rs, events, expected) => {
    const { alerts, engine } = run(rs, [[...events]], 20 * S);
    expect(ids(alerts)).toEqual(expected);
    expect(Object.values(engine.stats().lateDropped)).toEqual([0]);
  });

  it('an event later than its rule allows is dropped for that rule and counted, in the snapshot too', () => {
    const rs = rules(
      { name: 'strict', kind: 'count', where: { anomaly: true }, min: 3, window: '60s', lateness: '5s' },
      { name: 'lenient', kind: 'count', where: { anomaly: true }, min: 3, window: '60s', lateness: '30s' },
    );
    const engine = new CepEngine(rs);
    const alerts = [
      ...engine.process([anomaly('a1', 'a', 0), anomaly('a2', 'a', 5 * S), ev('x', 'b', 25 * S)]),
      // maxTime 25s: 19.999s is late for strict (before 20s), in time for lenient (from -5s)
      ...engine.process([anomaly('a3', 'a', 20 * S - 1)]),
      // exactly maxTime - lateness is still in time
      ...engine.process([anomaly('a4', 'a', 20 * S)]),
      ...engine.process([tick(200 * S)]),
    ];
    expect(ids(alerts.filter((a) => a.key !== TICK))).toEqual(['lenient|a|0|19999', 'strict|a|0|20000']);
    expect(engine.stats().lateDropped).toEqual({ strict: 1, lenient: 0 });
    const snap = JSON.parse(engine.snapshot().toString()) as { rules: Record<string, { lateDropped: number }> };
    expect(snap.rules.strict!.lateDropped).toBe(1);
    const restored = new CepEngine(rs);
    restored.restore(engine.snapshot());
    expect(restored.stats().lateDropped).toEqual({ strict: 1, lenient: 0 });
  });

  it('an event behind the watermark is dropped for every rule, even where it would complete a match', () => {
    const engine = new CepEngine(SEQUENCE);
    engine.process([anomaly('a1', 'a', 0), ev('x', 'b', 20 * S)]);
    const alerts = [...engine.process([errors('e1', 'a', 10 * S)]), ...engine.process([tick(100 * S)])];
    expect(alerts.filter((a) => a.key !== TICK)).toEqual([]);
    expect(engine.stats().lateDropped).toEqual({ spike: 1 });
  });

  it('a repeated event (same id and time) that is still waiting counts once', () => {
    const events = [anomaly('a1', 'a', 0), anomaly('a2', 'a', 1 * S)];
    const once = run(COUNT, [events]);
    const twice = run(COUNT, [[...events, anomaly('a2', 'a', 1 * S)], [anomaly('a1', 'a', 0)]]);
    expect(once.alerts).toEqual([]);
    expect(twice.alerts).toEqual([]);
    expect(twice.engine.stats().duplicates).toBe(2);
  });

  it('same events in the same order: the same alerts and the same snapshot bytes', () => {
    const events = workload(300, 11);
    const a = run(ALL_KINDS, [events]);
    const b = run(ALL_KINDS, [events]);
    expect(a.alerts.length).toBeGreaterThan(0);
    expect(b.alerts).toEqual(a.alerts);
    expect(b.engine.snapshot().equals(a.engine.snapshot())).toBe(true);
    expect(new Set(ids(a.alerts)).size).toBe(a.alerts.length);
  });

  it('ids stay readable with a | in the key', () => {
    const { alerts } = run(SEQUENCE, [[anomaly('a1', 'x|y', 0), errors('e1', 'x|y', 1 * S)]]);
    expect(ids(alerts)).toEqual(['spike|x|y|0|1000']);
  });

  it('a malformed event fails the batch before any state changes', () => {
    const engine = new CepEngine(COUNT);
    engine.process([anomaly('a1', 'a', 0)]);
    const before = engine.snapshot();
    const bad = [anomaly('a2', 'a', 1 * S), { ...anomaly('a3', 'a', 2 * S), time: Number.NaN }];
    expect(() => engine.process(bad)).toThrow(/event 1 \(a3\): time must be a finite number/);
    expect(() => engine.process([{ ...anomaly('a4', 'a', 2 * S), anomaly: 'yes' as unknown as boolean }])).toThrow(
      TypeError,
    );
    expect(engine.snapshot().equals(before)).toBe(true);
  });
});

describe('cep engine: bounded state', () => {
  it('keeps per key per rule only what the rule needs, and nothing for keys idle past it', () => {
    const engine = new CepEngine(ALL_KINDS);
    const events: CepEvent[] = [];
    for (let i = 0; i < 2000; i++) events.push(anomaly(`a${i}`, `key-${i % 100}`, i * 100));
    engine.process(events);
    const snap = JSON.parse(engine.snapshot().toString()) as {
      rules: Record<string, { keys: [string, { m?: unknown[] }][] }>;
    };
    for (const [, st] of snap.rules.burst!.keys) expect(st.m?.length ?? 0).toBeLessThanOrEqual(3);
    expect(snap.rules['then-errors']!.keys.every(([, st]) => (st.m?.length ?? 0) <= 2)).toBe(true);
    expect(engine.stats().states).toBeGreaterThanOrEqual(100);
    // A day later nothing is left (the tick itself waits for the watermark)...
    engine.process([tick(86_400 * S)]);
    expect(engine.stats()).toMatchObject({ states: 0, pending: 1 });
    // ...and then only the first tick's last-seen, for the absence rule.
    engine.process([tick(86_400 * S + 10 * S)]);
    expect(engine.stats()).toMatchObject({ states: 1, pending: 1 });
  });
});

/** Event sequences of every rule kind, to cut at every position: state must not depend on the cut. */
const splitCases: { name: string; rules: readonly CepRule[]; events: CepEvent[]; until?: number }[] = [
  { name: 'count', rules: COUNT, events: countCases[7]!.events },
  { name: 'sequence', rules: SEQUENCE, events: sequenceCases[8]!.events },
  { name: 'trend', rules: TREND, events: trendCases[7]!.events },
  { name: 'absence', rules: ABSENCE, events: absenceCases[6]!.events, until: 600 * S },
  { name: 'out of order, a rule of every kind', rules: ALL_KINDS, events: jitter(workload(120, 5), 5 * S, 9) },
];

/** The objects in `value` whose keys are not in code-unit order, by their path. */
function unsortedKeys(value: unknown, path = '$'): string[] {
  if (value === null || typeof value !== 'object') return [];
  const entries = Object.entries(value);
  const here = entries.some(([k], i) => i > 0 && !(entries[i - 1]![0] < k)) ? [path] : [];
  return [...here, ...entries.flatMap(([k, v]) => unsortedKeys(v, `${path}.${k}`))];
}

describe('cep engine: snapshot and restore', () => {
  it.each(splitCases.map((c) => [c.name, c] as const))(
    'split at every position gives the alerts and state of an uninterrupted run: %s',
    (_name, c) => {
      const whole = run(c.rules, [c.events], c.until);
      expect(whole.alerts.length).toBeGreaterThan(0);
      const end = tick(c.until ?? Math.max(...c.events.map((e) => e.time)) + 86_400 * S);
      for (let i = 0; i <= c.events.length; i++) {
        const first = new CepEngine(c.rules);
        const before = first.process(c.events.slice(0, i));
        const second = new CepEngine(c.rules);
        second.restore(Buffer.from(first.snapshot()));
        expect(second.snapshot().equals(first.snapshot())).toBe(true);
        const after = [...second.process(c.events.slice(i)), ...second.process([end])];
        expect(
          [...before, ...after].filter((a) => a.key !== TICK),
          `split at ${i}`,
        ).toEqual(whole.alerts);
        expect(second.snapshot().toString(), `split at ${i}`).toBe(whole.engine.snapshot().toString());
      }
    },
  );

  it('the snapshot is canonical JSON (sorted keys) holding the waiting events', () => {
    const engine = new CepEngine(ALL_KINDS);
    engine.process([anomaly('a1', 'b', 10 * S), anomaly('a0', 'a', 9 * S), latency('l0', 'a', 1 * S, 3)]);
    const text = engine.snapshot().toString();
    expect(JSON.stringify(JSON.parse(text))).toBe(text);
    expect(unsortedKeys(JSON.parse(text))).toEqual([]);
    const snap = JSON.parse(text) as { v: number; pending: unknown[][]; maxTime: number; watermark: number };
    expect(snap).toMatchObject({ v: 1, maxTime: 10_000, watermark: 5_000 });
    expect(snap.pending.map((p) => p[0])).toEqual(['a0', 'a1']);
  });

  it('restore(undefined) starts afresh; a foreign snapshot is refused', () => {
    const engine = new CepEngine(COUNT);
    engine.process([anomaly('a1', 'a', 0), anomaly('a2', 'a', 1 * S)]);
    const fresh = new CepEngine(COUNT).snapshot();
    engine.restore(undefined);
    expect(engine.snapshot().equals(fresh)).toBe(true);
    expect(() => engine.restore(Buffer.from('{"v":2}'))).toThrow(/not a cep state snapshot \(version 1\): v: /);
    expect(() => engine.restore(Buffer.from('not json'))).toThrow(/not a cep state snapshot/);
  });

  it('a rule whose definition changed starts without its old state; unchanged rules keep theirs', () => {
    const before = rules(
      { name: 'spike', kind: 'sequence', first: { anomaly: true }, second: { type: 'errors' }, within: '30s' },
      { name: 'burst', kind: 'count', where: { anomaly: true }, min: 2, window: '60s' },
    );
    const after = rules(
      { name: 'spike', kind: 'sequence', first: { anomaly: true }, second: { type: 'errors' }, within: '40s' },
      { name: 'burst', kind: 'count', where: { anomaly: true }, min: 2, window: '60s' },
    );
    const engine = new CepEngine(before);
    engine.process([anomaly('a1', 'a', 0), ev('x', 'b', 6 * S)]); // a1 evaluated: pending A, one burst event
    const changed = new CepEngine(after);
    changed.restore(engine.snapshot());
    const alerts = [
      ...changed.process([errors('e1', 'a', 10 * S), anomaly('a2', 'a', 11 * S)]),
      ...changed.process([tick(100 * S)]),
    ];
    expect(ids(alerts.filter((a) => a.key !== TICK))).toEqual(['burst|a|0|11000']);
  });
});

describe('cep engine: entry state', () => {
  /** A Redis hash's view of the state: the changes applied after every batch, as a commit does. */
  class Committed {
    readonly entries = new Map<string, Buffer>();
    apply({ set, del }: { set: [string, Buffer | string][]; del: string[] }): void {
      for (const [name, value] of set) this.entries.set(name, Buffer.from(value));
      for (const name of del) this.entries.delete(name);
    }
  }
  it.each(splitCases.map((c) => [c.name, c] as const))(
    'batches committed by change, loaded at every split, give the alerts and state of an uninterrupted run: %s',
    (_name, c) => {
      const whole = run(c.rules, [c.events], c.until);
      const end = tick(c.until ?? Math.max(...c.events.map((e) => e.time)) + 86_400 * S);
      for (let i = 0; i <= c.events.length; i += 3) {
        const committed = new Committed();
        const first = new CepEngine(c.rules);
        first.load(undefined);
        // Batches of 1-2 events up to the split, each committed.
        const before: CepAlert[] = [];
        for (let j = 0; j < i; j += 2) {
          before.push(...first.process(c.events.slice(j, Math.min(i, j + 2))));
          committed.apply(first.changes());
        }
        const second = new CepEngine(c.rules);
        second.load(committed.entries);
        expect(second.snapshot().toString(), `loaded at ${i}`).toBe(first.snapshot().toString());
        const after = [...second.process(c.events.slice(i)), ...second.process([end])];
        committed.apply(second.changes());
        expect(
          [...before, ...after].filter((a) => a.key !== TICK),
          `split at ${i}`,
        ).toEqual(whole.alerts);
        expect(second.snapshot().toString(), `split at ${i}`).toBe(whole.engine.snapshot().toString());
        // What is committed at the end is that state too, and holds nothing the state does not need.
        const third = new CepEngine(c.rules);
        third.load(committed.entries);
        expect(third.snapshot().toString()).toBe(whole.engine.snapshot().toString());
        expect([...committed.entries.keys()].filter((n) => n.startsWith('p:')).length).toBeLessThanOrEqual(
          third.stats().pending,
        );
      }
    },
  );

  it('a commit carries what the batch touched, not the whole state', () => {
    const engine = new CepEngine(ALL_KINDS);
    engine.load(undefined);
    // 50 keys, an event every 100 ms: the last one releases (5 s lateness) about one other.
    const events = Array.from({ length: 200 }, (_, i) => latency(`l${i}`, `key${i % 50}`, i * 100, i % 7));
    engine.process(events.slice(0, events.length - 1));
    const full = engine.changes();
    engine.process([events[events.length - 1]!]);
    const one = engine.changes();
    // The counters, the new event's chunk, and the states of the keys whose events the watermark
    // released with it: a small part of the state.
    const keyStates = (c: { set: [string, Buffer | string][] }) => c.set.filter(([n]) => n.startsWith('k:'));
    const bytes = (c: { set: [string, Buffer | string][] }) => c.set.reduce((n, [k, v]) => n + k.length + v.length, 0);
    expect(keyStates(full).length).toBeGreaterThan(4 * keyStates(one).length);
    expect(bytes(full)).toBeGreaterThan(4 * bytes(one));
    expect(one.set.map(([n]) => n)).toEqual(expect.arrayContaining(['m', expect.stringMatching(/^p:\d+$/)]));
  });

  it("every commit's counters entry holds the current counters, late drops included", () => {
    const engine = new CepEngine(ALL_KINDS);
    engine.load(undefined);
    const meta = () =>
      JSON.parse(
        engine
          .changes()
          .set.find(([n]) => n === 'm')![1]
          .toString(),
      ) as {
        maxTime: number;
        watermark: number;
        lateDropped: Record<string, number>;
        fps: Record<string, string>;
        nextChunk: number;
      };
    engine.process([ev('a', 'k', 100 * S), ev('b', 'k', 101 * S)]);
    const first = meta();
    expect(first).toMatchObject({ v: 1, maxTime: 101 * S, watermark: 101 * S - 5 * S, duplicates: 0 });
    expect(Object.keys(first.fps).sort()).toEqual(ALL_KINDS.map((r) => r.name).sort());
    expect(Object.values(first.lateDropped).every((n) => n === 0)).toBe(true);
    // Two events far behind the newest: late for every rule.
    engine.process([ev('c', 'k', 50 * S), ev('d', 'k', 51 * S)]);
    const second = meta();
    expect(second.lateDropped).toEqual(engine.stats().lateDropped);
    expect(Object.values(second.lateDropped).every((n) => n === 2)).toBe(true);
    expect(second.nextChunk).toBeGreaterThanOrEqual(first.nextChunk);
    // What load reads back gives the same counters.
    const again = new CepEngine(ALL_KINDS);
    again.load(new Map([['m', Buffer.from(JSON.stringify(second))]]));
    expect(again.stats().lateDropped).toEqual(engine.stats().lateDropped);
  });

  it('key states and pending chunks are binary; the JSON entries of earlier versions load to the same state', () => {
    const engine = new CepEngine(ALL_KINDS);
    engine.load(undefined);
    // Anomalies, latencies and errors of a few keys, some waiting for the watermark at the end.
    const events = Array.from({ length: 60 }, (_, i) =>
      i % 3 === 0
        ? anomaly(`a${i}`, `key${i % 4}`, i * 300)
        : i % 3 === 1
          ? latency(`l${i}`, `key${i % 4}`, i * 300, i)
          : ev(`e${i}`, `key${i % 4}`, i * 300, 'errors', 2, { z: 0.5, score: 0.25 }),
    );
    engine.process(events);
    const binary = new Map(engine.changes().set.map(([n, v]) => [n, Buffer.from(v)] as const));
    const stateEntries = [...binary].filter(([n]) => n !== 'm');
    expect(stateEntries.some(([n]) => n.startsWith('k:')) && stateEntries.some(([n]) => n.startsWith('p:'))).toBe(true);
    for (const [name, value] of stateEntries) expect(value[0], name).toBe(1);
    const loaded = new CepEngine(ALL_KINDS);
    loaded.load(binary);
    expect(loaded.snapshot().toString()).toBe(engine.snapshot().toString());

    // The same state as an earlier version wrote it: JSON key states and one JSON chunk.
    const snap = JSON.parse(engine.snapshot().toString()) as {
      pending: unknown[];
      rules: Record<string, { keys: [string, unknown][] }>;
    };
    const json = new Map<string, Buffer>([['m', binary.get('m')!]]);
    for (const [rule, saved] of Object.entries(snap.rules))
      for (const [key, st] of saved.keys) json.set(`k:${rule}:${key}`, Buffer.from(JSON.stringify(st)));
    json.set('p:0', Buffer.from(JSON.stringify(snap.pending)));
    const old = new CepEngine(ALL_KINDS);
    old.load(json);
    expect(old.snapshot().toString()).toBe(engine.snapshot().toString());
  });

  it('a truncated binary entry is refused with its name', () => {
    const engine = new CepEngine(COUNT);
    engine.load(undefined);
    // The last event moves the watermark past the first two: a key state, and a chunk still waiting.
    engine.process([anomaly('a1', 'a', 0), anomaly('a2', 'a', 1000), ev('x', 'b', 10 * S)]);
    const entries = new Map(engine.changes().set.map(([n, v]) => [n, Buffer.from(v)] as const));
    const key = entries.get('k:burst:a')!;
    entries.set('k:burst:a', key.subarray(0, key.length - 1));
    expect(() => new CepEngine(COUNT).load(entries)).toThrow(
      /state entry "k:burst:a" is not one of a cep engine .*truncated/,
    );
    const chunk = [...entries.keys()].find((n) => n.startsWith('p:'))!;
    entries.set('k:burst:a', key);
    entries.set(chunk, Buffer.concat([entries.get(chunk)!, Buffer.from([0])]));
    expect(() => new CepEngine(COUNT).load(entries)).toThrow(
      new RegExp(`state entry "${chunk}" is not one of a cep engine .*trailing`),
    );
  });

  it('a foreign or unknown entry is refused; the entries of a changed rule are dropped and deleted', () => {
    const engine = new CepEngine(COUNT);
    expect(() => engine.load(new Map([['m', Buffer.from('{"v":2}')]]))).toThrow(
      /state entry "m" is not one of a cep engine/,
    );
    expect(() => engine.load(new Map([['x', Buffer.from('1')]]))).toThrow(/without "m"/);
    const before = rules({ name: 'burst', kind: 'count', where: { anomaly: true }, min: 2, window: '60s' });
    const after = rules({ name: 'burst', kind: 'count', where: { anomaly: true }, min: 2, window: '90s' });
    const old = new CepEngine(before);
    old.load(undefined);
    old.process([anomaly('a1', 'a', 0), ev('x', 'b', 6 * S)]);
    const committed = new Map(old.changes().set.map(([n, v]) => [n, Buffer.from(v)] as const));
    expect([...committed.keys()]).toContain('k:burst:a');
    const changed = new CepEngine(after);
    changed.load(committed);
    expect(changed.stats().states).toBe(0);
    expect(changed.changes().del).toContain('k:burst:a');
  });
});

describe('cep rules schema', () => {
  it('DEFAULT_RULES: durations in ms, defaults filled in, each saying what it is for', () => {
    expect(DEFAULT_RULES).toEqual([
      {
        kind: 'count',
        name: 'anomaly-burst',
        lateness: 5000,
        cooldown: 10_000,
        where: [{ anomaly: true }],
        min: 2,
        window: 10_000,
        for: ['level_shift', 'error_burst'],
      },
      {
        kind: 'sequence',
        name: 'error-burst',
        lateness: 5000,
        cooldown: 10_000,
        first: [{ type: 'errors' }, { anomaly: true }],
        second: [{ type: 'errors' }, { field: 'z', op: '>', value: 10 }],
        within: 10_000,
        for: ['error_burst'],
      },
    ]);
  });

  it('`for` names ground-truth kinds; it is optional and changes neither the alerts nor the state', () => {
    const plain = { name: 'burst', kind: 'count', where: { anomaly: true }, min: 2, window: '60s' } as const;
    const [none] = cepRulesSchema.parse([plain]);
    expect(none).not.toHaveProperty('for');
    const aimed = rules({ ...plain, for: ['level_shift', 'error_burst'] });
    expect(aimed[0]!.for).toEqual(['level_shift', 'error_burst']);
    const events = [anomaly('a1', 'a', 0), anomaly('a2', 'a', S), anomaly('b1', 'b', 2 * S)];
    const a = run(aimed, [events]);
    const b = run([none!], [events]);
    expect(ids(a.alerts)).toEqual(['burst|a|0|1000']);
    expect(a.alerts).toEqual(b.alerts);
    // State saved without `for` loads under the rule with it: the same definition as far as firing goes.
    const saved = new CepEngine([none!]);
    saved.process([anomaly('a1', 'a', 0), ev('x', 'b', 6 * S)]);
    const loaded = new CepEngine(aimed);
    loaded.restore(saved.snapshot());
    expect(loaded.stats().states).toBe(1);
    for (const bad of [[], [''], ['two words'], 'spike', [1]])
      expect(cepRulesSchema.safeParse([{ ...plain, for: bad }]).success, JSON.stringify(bad)).toBe(false);
  });

  it.each([
    [1500, 1500],
    ['1500ms', 1500],
    ['30s', 30_000],
    ['1.5m', 90_000],
    ['2', 2000],
  ])('window %j is %d ms', (window, ms) => {
    const [rule] = cepRulesSchema.parse([{ name: 'r', kind: 'absence', window, lateness: 0, cooldown: '1m' }]);
    expect(rule).toMatchObject({ window: ms, lateness: 0, cooldown: 60_000 });
  });

  it.each<[string, unknown, (string | number)[], RegExp?]>([
    ['no rules', [], [], /too small/i],
    ['no kind', [{ name: 'r', min: 1, window: 1 }], [0, 'kind']],
    ['unknown kind', [{ name: 'r', kind: 'often', window: 1 }], [0, 'kind']],
    ['min 0', [{ name: 'r', kind: 'count', min: 0, window: '1s' }], [0, 'min']],
    ['min not an integer', [{ name: 'r', kind: 'count', min: 1.5, window: '1s' }], [0, 'min']],
    ['window not a duration', [{ name: 'r', kind: 'count', min: 2, window: 'soon' }], [0, 'window'], /duration/],
    ['window 0', [{ name: 'r', kind: 'absence', window: 0 }], [0, 'window'], /more than 0/],
    ['negative lateness', [{ name: 'r', kind: 'absence', window: '1s', lateness: -1 }], [0, 'lateness']],
    ['lateness over an hour', [{ name: 'r', kind: 'absence', window: '1s', lateness: '2h' }], [0, 'lateness']],
    [
      'comparison without field',
      [{ name: 'r', kind: 'count', min: 2, window: '1s', where: { op: '>', value: 1 } }],
      [0, 'where', 'field'],
    ],
    [
      'bad op in a list',
      [
        {
          name: 'r',
          kind: 'count',
          min: 2,
          window: '1s',
          where: [{ anomaly: true }, { field: 'value', op: '=>', value: 1 }],
        },
      ],
      [0, 'where', 1, 'op'],
    ],
    [
      'unknown field',
      [{ name: 'r', kind: 'count', min: 2, window: '1s', where: { field: 'cpu', op: '>', value: 1 } }],
      [0, 'where', 'field'],
    ],
    [
      'empty condition',
      [{ name: 'r', kind: 'count', min: 2, window: '1s', where: {} }],
      [0, 'where'],
      /empty condition/,
    ],
    ['empty condition list', [{ name: 'r', kind: 'count', min: 2, window: '1s', where: [] }], [0, 'where']],
    [
      'unknown condition key',
      [{ name: 'r', kind: 'count', min: 2, window: '1s', where: { anomalous: true } }],
      [0, 'where'],
    ],
    [
      'anomaly not a boolean',
      [{ name: 'r', kind: 'count', min: 2, window: '1s', where: { anomaly: 'yes' } }],
      [0, 'where', 'anomaly'],
    ],
    [
      'sequence without second',
      [{ name: 'r', kind: 'sequence', first: { anomaly: true }, within: '1s' }],
      [0, 'second'],
    ],
    ['trend length 1', [{ name: 'r', kind: 'trend', length: 1 }], [0, 'length']],
    ['unknown rule field', [{ name: 'r', kind: 'absence', window: '1s', windw: '2s' }], [0]],
    ['name with |', [{ name: 'a|b', kind: 'absence', window: '1s' }], [0, 'name']],
    [
      'duplicate names',
      [
        { name: 'r', kind: 'absence', window: '1s' },
        { name: 'r', kind: 'absence', window: '2s' },
      ],
      [1, 'name'],
      /duplicate/,
    ],
  ])('%s', (_name, input, path, message) => {
    const result = cepRulesSchema.safeParse(input);
    expect(result.success).toBe(false);
    const issues = result.error!.issues;
    expect(issues.map((i) => i.path)).toContainEqual(path);
    if (message) expect(issues.find((i) => JSON.stringify(i.path) === JSON.stringify(path))!.message).toMatch(message);
  });
});
