import { describe, expect, it } from 'vitest';
import type { StreamEvent } from '../src/pipeline/codec.js';
import type { Stage, StageContext, StateChanges } from '../src/pipeline/stage.js';
import { ENRICH_DEFAULTS, enrich } from '../src/pipeline/stages/enrich.js';
import { decodeMetricRecord } from '../src/pipeline/stages/metric-record.js';
import { SPREAD_ENTRY } from '../src/pipeline/stages/spread-prior.js';
import { ByteWriter } from '../src/pipeline/stages/state-bytes.js';
import { stageContext } from './helpers/stage.js';

const base = stageContext();
const ctx: StageContext = { ...base, services: { ...base.services, lookup: async () => new Map() } };

let seq = 0;
function metric(key: string, time: number, value: number): StreamEvent {
  seq++;
  return { key, producer: 'p', seq, ts: time, data: Buffer.from(JSON.stringify({ type: 'cpu', value, time })) };
}

/** Commits changes into the entries as the worker does (a Redis hash): sets and deletes never overlap. */
function commit(entries: Map<string, Buffer>, changes: StateChanges): void {
  const set = new Set(changes.set.map(([k]) => k));
  expect(changes.del.filter((k) => set.has(k))).toEqual([]);
  for (const k of changes.del) entries.delete(k);
  for (const [k, v] of changes.set) entries.set(k, Buffer.from(v));
}

/** The keys with statistics among the entries (the others hold the types' spreads). */
function keysOf(entries: Map<string, Buffer>): string[] {
  return [...entries.keys()].filter((k) => !k.startsWith(SPREAD_ENTRY)).sort();
}

/** A fresh stage on `entries` (in the order given). */
function loaded(params: Record<string, unknown>, entries?: Map<string, Buffer>): Stage {
  const stage = enrich(params);
  stage.state!.load(entries, ctx);
  return stage;
}

/** Runs batches through a stage, committing after each; returns the records and the entries after each batch. */
async function run(
  stage: Stage,
  batches: StreamEvent[][],
  entries = new Map<string, Buffer>(),
): Promise<{ records: Buffer[]; after: Map<string, Buffer>[]; deleted: number }> {
  const records: Buffer[] = [];
  const after: Map<string, Buffer>[] = [];
  let deleted = 0;
  for (const batch of batches) {
    records.push(...(await stage.process(batch, ctx)).map((e) => e.data));
    const changes = stage.state!.changes(ctx);
    deleted += changes.del.length;
    commit(entries, changes);
    after.push(new Map(entries));
  }
  return { records, after, deleted };
}

/** A deterministic pseudo-random sequence in [0, 1). */
function random(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1_103_515_245 + 12_345) % 2_147_483_648;
    return s / 2_147_483_648;
  };
}

/**
 * Events of many keys, some hot, most seen a few times, with times out of order by up to 1.5 s and
 * on a 50 ms grid: batches often start with a late event, and keys often share a time.
 */
function workload(batches: number, perBatch: number): StreamEvent[][] {
  const r = random(7);
  let t = 1_000_000;
  return Array.from({ length: batches }, () =>
    Array.from({ length: perBatch }, () => {
      t += Math.floor(r() * 40);
      const key = r() < 0.5 ? `hot-${Math.floor(r() * 5)}` : `k-${Math.floor(r() * 400)}`;
      return metric(key, Math.floor((t - r() * 1_500) / 50) * 50, 10 + r() * 5);
    }),
  );
}

function shuffled(entries: Map<string, Buffer>, seed: number): Map<string, Buffer> {
  const r = random(seed);
  const list = [...entries];
  for (let i = list.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [list[i], list[j]] = [list[j]!, list[i]!];
  }
  return new Map(list);
}

/** A key statistics entry as version 1 wrote it: no event time. */
function untimedEntry(n: number, mean: number): Buffer {
  return new ByteWriter().u8(1).u8(0).u16(0).f64(n).f64(mean).f64(1).f64(mean).f64(0).take();
}

describe('enrich: bounded per-key statistics', () => {
  const params = { warmup: 3, keyIdle: 1_000, maxKeys: 20 };

  it('a restart from the entries committed after any batch ends as the straight run, records included', async () => {
    const batches = workload(30, 25);
    const straight = await run(loaded(params), batches);
    // The run evicts, by idle time and by the cap, or the test proves nothing.
    expect(straight.deleted).toBeGreaterThan(100);
    expect(Math.max(...straight.after.map((m) => keysOf(m).length))).toBe(params.maxKeys);
    const perBatch = batches.map((b) => b.length);
    for (let k = 1; k < batches.length; k++) {
      // Loaded in another order than committed: HGETALL's order is arbitrary.
      const committed = shuffled(straight.after[k - 1]!, k);
      const stage = loaded(params, committed);
      expect(stage.state!.changes(ctx), `nothing pending after loading batch ${k}`).toEqual({ set: [], del: [] });
      const rest = await run(stage, batches.slice(k), new Map(committed));
      const from = perBatch.slice(0, k).reduce((a, b) => a + b, 0);
      expect(rest.records.length).toBe(straight.records.length - from);
      rest.records.forEach((r, i) =>
        expect(r.equals(straight.records[from + i]!), `batch ${k}, record ${i}`).toBe(true),
      );
      expect(rest.after.at(-1), `entries, from batch ${k}`).toEqual(straight.after.at(-1));
    }
  });

  it('the state does not depend on how the events are cut into batches', async () => {
    const events = workload(20, 30).flat();
    const one = await run(loaded(params), [events]);
    const single = await run(
      loaded(params),
      events.map((e) => [e]),
    );
    expect(single.after.at(-1)).toEqual(one.after.at(-1));
    single.records.forEach((r, i) => expect(r.equals(one.records[i]!)).toBe(true));
  });

  it('a key idle for longer than keyIdle (event time) is deleted, and starts over when it comes back', async () => {
    const stage = loaded({ warmup: 3, keyIdle: 1_000 });
    const entries = new Map<string, Buffer>();
    const step = async (events: StreamEvent[]) => {
      const out = await stage.process(events, ctx);
      const changes = stage.state!.changes(ctx);
      commit(entries, changes);
      return { out: out.map((e) => decodeMetricRecord(e.data)), del: changes.del };
    };
    await step([metric('a', 0, 10), metric('a', 1, 11), metric('a', 2, 12), metric('a', 3, 13)]);
    await step([metric('b', 500, 1)]);
    // 1003 - 1000 = 3: a, last seen at 3, is idle for exactly keyIdle, not more.
    expect((await step([metric('c', 1_003, 1)])).del).toEqual([]);
    expect((await step([metric('c', 1_004, 1)])).del).toEqual(['a']);
    expect(keysOf(entries)).toEqual(['b', 'c']);
    // A late event does not move the watermark back: b stays while c's time says so.
    expect((await step([metric('b', 10, 1)])).del).toEqual([]);
    const back = await step([metric('a', 1_005, 20)]);
    expect(back.out[0]).toMatchObject({ ready: false, mean: 0, delta: 0 });
    expect((await step([metric('c', 1_501, 1)])).del).toEqual(['b']);
    expect(keysOf(entries)).toEqual(['a', 'c']);
  });

  it('after a restart the watermark is the largest time of the entries: a late new key idle already goes at once', async () => {
    const p = { keyIdle: 1_000 };
    const before = [metric('a', 5_000, 1)];
    const late = [metric('b', 3_999, 1)];
    const straight = await run(loaded(p), [before, late]);
    const committed = (await run(loaded(p), [before])).after[0]!;
    const restarted = await run(loaded(p, committed), [late], new Map(committed));
    expect(keysOf(straight.after[1]!)).toEqual(['a']);
    expect(restarted.after[0]).toEqual(straight.after[1]);
  });

  it('no more than maxKeys keys are kept: the least recently seen (event time) go first, ties by key', async () => {
    const stage = loaded({ maxKeys: 3 });
    const entries = new Map<string, Buffer>();
    for (let i = 0; i < 10; i++) {
      await stage.process([metric(`k${i}`, 100 + i, 1), metric(`k${i}`, 50, 1)], ctx);
      commit(entries, stage.state!.changes(ctx));
      expect(keysOf(entries).length).toBe(Math.min(i + 1, 3));
    }
    expect(keysOf(entries)).toEqual(['k7', 'k8', 'k9']);
    await stage.process([metric('z', 109, 1), metric('y', 109, 1)], ctx);
    commit(entries, stage.state!.changes(ctx));
    expect(keysOf(entries)).toEqual(['k9', 'y', 'z']);
    // A late event of a new key is the least recent: it is counted, then dropped.
    const out = await stage.process([metric('late', 1, 5)], ctx);
    expect(out).toHaveLength(1);
    const changes = stage.state!.changes(ctx);
    expect(changes).toEqual({ set: [], del: ['late'] });
  });

  it('a lower maxKeys or keyIdle applies at load, deleting at the next commit', async () => {
    const first = await run(loaded({}), [[metric('a', 0, 1), metric('b', 10, 1), metric('c', 5_000, 1)]]);
    const stage = loaded({ maxKeys: 2, keyIdle: 4_995 }, first.after[0]);
    expect(stage.state!.changes(ctx)).toEqual({ set: [], del: ['a'] });
    const tighter = loaded({ maxKeys: 1 }, first.after[0]);
    expect(tighter.state!.changes(ctx).del.sort()).toEqual(['a', 'b']);
  });

  it('entries of earlier versions (no time) count as seen at the watermark of the others, and are rewritten', async () => {
    const timed = await run(loaded({}), [[metric('new', 10_000, 1)]]);
    const entries = new Map([
      ['old', untimedEntry(5, 7)],
      ['json', Buffer.from(JSON.stringify({ n: 5, mean: 3, v: 1, last: 3, out: 0, recent: [] }))],
      ...timed.after[0]!,
    ]);
    const stage = loaded({ keyIdle: 1_000 }, entries);
    const changes = stage.state!.changes(ctx);
    expect(changes.set.map(([k]) => k).sort()).toEqual(['json', 'old']);
    expect(changes.del).toEqual([]);
    const rewritten = new Map(entries);
    commit(rewritten, changes);
    // Stamped at 10,000: at 11,000 they are idle for exactly keyIdle, at 11,001 for more.
    const restarted = loaded({ keyIdle: 1_000 }, rewritten);
    expect(restarted.state!.changes(ctx)).toEqual({ set: [], del: [] });
    await restarted.process([metric('new', 11_000, 1)], ctx);
    expect(restarted.state!.changes(ctx).del).toEqual([]);
    await restarted.process([metric('new', 11_001, 1)], ctx);
    expect(restarted.state!.changes(ctx).del.sort()).toEqual(['json', 'old']);
  });

  it('entries of earlier versions alone count as seen at the first event after the load, and keep their statistics', async () => {
    const stage = loaded({ warmup: 3, keyIdle: 1_000 }, new Map([['old', untimedEntry(5, 7)]]));
    expect(stage.state!.changes(ctx)).toEqual({ set: [], del: [] });
    const [rec] = await stage.process([metric('old', 5_000, 8)], ctx);
    expect(decodeMetricRecord(rec!.data)).toMatchObject({ ready: true, mean: 7, delta: 1 });
    await stage.process([metric('other', 5_999, 1)], ctx);
    expect(stage.state!.changes(ctx).del).toEqual([]);
    await stage.process([metric('other', 6_001, 1)], ctx);
    expect(stage.state!.changes(ctx).del).toEqual(['old']);
  });

  it('refuses a keyIdle or maxKeys that bounds nothing', () => {
    expect(ENRICH_DEFAULTS).toMatchObject({ keyIdle: 3_600_000, maxKeys: 2_500 });
    expect(() => enrich({ keyIdle: 0 })).toThrow(/keyIdle must be a positive number/);
    expect(() => enrich({ keyIdle: '1h' })).toThrow(/keyIdle must be a positive number/);
    expect(() => enrich({ maxKeys: 0 })).toThrow(/maxKeys must be a positive integer/);
    expect(() => enrich({ maxKeys: 2.5 })).toThrow(/maxKeys must be a positive integer/);
  });
});
