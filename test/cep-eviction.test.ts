import { describe, expect, it } from 'vitest';
import type { StreamEvent } from '../src/pipeline/codec.js';
import type { Stage, StateChanges } from '../src/pipeline/stage.js';
import { cep, CEP_DEFAULTS } from '../src/pipeline/stages/cep/cep.js';
import { CepEngine } from '../src/pipeline/stages/cep/engine.js';
import type { CepEvent } from '../src/pipeline/stages/cep/event.js';
import { cepRulesSchema, type CepRuleInput } from '../src/pipeline/stages/cep/rules.js';
import { TimerHeap } from '../src/pipeline/stages/cep/timer-heap.js';
import { stageContext } from './helpers/stage.js';

const RULES: CepRuleInput[] = [
  { name: 'burst', kind: 'count', where: { anomaly: true }, min: 2, window: '10s', lateness: '2s' },
  { name: 'silent', kind: 'absence', window: '5s', lateness: '2s' },
];

/** A deterministic pseudo-random sequence in [0, 1). */
function random(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1_103_515_245 + 12_345) % 2_147_483_648;
    return s / 2_147_483_648;
  };
}

/** Events of many keys, hot and churning, anomalous now and then, out of order within 1.5 s. */
function workload(n: number): CepEvent[] {
  const r = random(11);
  let t = 100_000;
  return Array.from({ length: n }, (_, i) => {
    t += Math.floor(r() * 200);
    const key = r() < 0.4 ? `hot-${Math.floor(r() * 4)}` : `k-${Math.floor(r() * 300)}`;
    return { id: `p:${i}`, key, time: t - Math.floor(r() * 1_500), type: 'cpu', value: 1, anomaly: r() < 0.3 };
  });
}

function toStream(e: CepEvent): StreamEvent {
  const seq = Number(e.id.slice(2));
  return {
    key: e.key,
    producer: 'p',
    seq,
    ts: e.time,
    data: Buffer.from(JSON.stringify({ time: e.time, type: e.type, value: e.value, anomaly: e.anomaly })),
  };
}

/** Cuts the events into batches of pseudo-random sizes. */
function cut(events: CepEvent[], seed: number): CepEvent[][] {
  const r = random(seed);
  const out: CepEvent[][] = [];
  for (let i = 0; i < events.length;) {
    const n = 1 + Math.floor(r() * 40);
    out.push(events.slice(i, i + n));
    i += n;
  }
  return out;
}

function commit(entries: Map<string, Buffer>, changes: StateChanges): void {
  for (const k of changes.del) entries.delete(k);
  for (const [k, v] of changes.set) entries.set(k, Buffer.from(v));
}

/** Runs batches through a cep stage, committing after each; the alerts and entries after each batch. */
function run(stage: Stage, batches: StreamEvent[][], entries = new Map<string, Buffer>()) {
  const emitted = new Map<string, unknown[]>();
  const ctx = stageContext({}, emitted);
  const alerts: string[][] = [];
  const after: Map<string, Buffer>[] = [];
  for (const batch of batches) {
    emitted.clear();
    stage.process(batch, ctx);
    commit(entries, stage.state!.changes(ctx));
    alerts.push(((emitted.get('alerts') ?? []) as StreamEvent[]).map((a) => a.data.toString()));
    after.push(new Map(entries));
  }
  return { alerts, after };
}

/** Keys holding rule state in committed entries. */
function keysIn(entries: Map<string, Buffer>): Set<string> {
  const keys = new Set<string>();
  for (const name of entries.keys()) if (name.startsWith('k:')) keys.add(name.slice(name.indexOf(':', 2) + 1));
  return keys;
}

describe('cep: bounded per-key state', () => {
  const params = { rules: RULES, maxKeys: 5 };

  it('a restart from the entries committed after any batch ends as the straight run, alerts included', () => {
    const batches = cut(workload(1_500), 3).map((b) => b.map(toStream));
    const straight = run(cep(params), batches);
    // The cap did drop keys, or the test proves nothing: uncapped, more keys hold state.
    const uncapped = run(cep({ rules: RULES, maxKeys: 1_000 }), batches);
    const most = (r: ReturnType<typeof run>) => Math.max(...r.after.map((m) => keysIn(m).size));
    expect(most(uncapped)).toBeGreaterThan(most(straight));
    expect(straight.alerts.flat()).not.toEqual(uncapped.alerts.flat());
    expect(straight.alerts.flat().length).toBeGreaterThan(10);
    for (let k = 1; k < batches.length; k++) {
      // Loaded in reverse order: HGETALL's order is arbitrary.
      const committed = new Map([...straight.after[k - 1]!].reverse());
      const stage = cep(params);
      stage.state!.load(committed, stageContext());
      const rest = run(stage, batches.slice(k), new Map(committed));
      expect(rest.alerts, `alerts, from batch ${k}`).toEqual(straight.alerts.slice(k));
      expect(rest.after.at(-1), `entries, from batch ${k}`).toEqual(straight.after.at(-1));
    }
  });

  it('the alerts and the state do not depend on how the events are cut into batches', () => {
    const events = workload(1_500);
    const rules = cepRulesSchema.parse(RULES);
    const runCut = (batches: CepEvent[][]) => {
      const engine = new CepEngine(rules, { maxKeys: 15 });
      const alerts = batches.flatMap((b) => engine.process(b));
      return { alerts, snapshot: engine.snapshot().toString() };
    };
    const whole = runCut([events]);
    for (const seed of [1, 2, 5]) expect(runCut(cut(events, seed))).toEqual(whole);
    expect(runCut(events.map((e) => [e]))).toEqual(whole);
  });

  it('at most maxKeys keys hold state once an event crosses a second of event time', () => {
    const engine = new CepEngine(cepRulesSchema.parse([RULES[1]!]), { maxKeys: 3 });
    for (let i = 0; i < 20; i++) {
      engine.process([{ id: `p:${i}`, key: `k${i}`, time: i * 1_000, type: 'cpu', value: 1 }]);
      // The cap runs before the event that crosses into a new second is evaluated; that event adds one.
      expect(engine.stats().states).toBeLessThanOrEqual(4);
    }
    expect(engine.stats().states).toBe(4);
  });

  it("an idle key's rule state is deleted from the entries once its rules' windows have passed", () => {
    const stage = cep({ rules: [RULES[0]!] });
    const entries = new Map<string, Buffer>();
    const ctx = stageContext();
    const at = (key: string, time: number) =>
      toStream({ id: `p:${time}`, key, time, type: 'cpu', value: 1, anomaly: true });
    stage.process([at('a', 0), at('b', 1_000)], ctx);
    stage.process([at('b', 5_000)], ctx);
    commit(entries, stage.state!.changes(ctx));
    expect(keysIn(entries)).toEqual(new Set(['a', 'b']));
    // The watermark (2 s behind) passes a's mark + 10 s window: a goes, b (seen at 5 s) stays.
    stage.process([at('b', 13_000)], ctx);
    const changes = stage.state!.changes(ctx);
    expect(changes.del).toContain('k:burst:a');
    commit(entries, changes);
    expect(keysIn(entries)).toEqual(new Set(['b']));
  });

  it('counters of an earlier version (no cap line) still load and continue', () => {
    const events = workload(200);
    const stage = cep(params);
    const first = run(stage, [events.slice(0, 100).map(toStream)]);
    const entries = first.after[0]!;
    const meta = JSON.parse(entries.get('m')!.toString()) as Record<string, unknown>;
    expect(typeof meta.capped).toBe('number');
    delete meta.capped;
    const legacy = new Map(entries).set('m', Buffer.from(JSON.stringify(meta)));
    const again = cep(params);
    again.state!.load(legacy, stageContext());
    expect(() => run(again, [events.slice(100).map(toStream)], legacy)).not.toThrow();
  });

  it('refuses a maxKeys that bounds nothing', () => {
    expect(CEP_DEFAULTS.maxKeys).toBe(2_500);
    expect(() => cep({ maxKeys: 0 })).toThrow(/params\.maxKeys: must be a positive integer/);
    expect(() => cep({ maxKeys: '10' })).toThrow(/params\.maxKeys: must be a positive integer/);
  });
});

describe('timer heap', () => {
  it('a removed deadline never comes out, and the others come out in order', () => {
    const heap = new TimerHeap();
    const dues = [50, 10, 40, 30, 20, 60, 5];
    dues.forEach((due, i) => heap.set(0, `k${i}`, due));
    heap.remove(0, 'k2');
    heap.remove(0, 'k6');
    heap.remove(0, 'missing');
    const out: number[] = [];
    for (let t = heap.pop(); t; t = heap.pop()) out.push(t.due);
    expect(out).toEqual([10, 20, 30, 50, 60]);
    // A key removed can be set again.
    heap.set(0, 'k2', 1);
    expect(heap.pop()).toMatchObject({ key: 'k2', due: 1 });
  });
});
