import { describe, expect, it } from 'vitest';
import type { StreamEvent } from '../src/pipeline/codec.js';
import { fuseSteps } from '../src/pipeline/fused-stage.js';
import type { Stage } from '../src/pipeline/stage.js';
import { stageContext } from './helpers/stage.js';

function event(seq: number, data = `e${seq}`): StreamEvent {
  return { key: `k${seq % 3}`, producer: 'p', seq, ts: seq, data: Buffer.from(data) };
}

/** A step that counts events in its state, appends its tag to every event, and drops what `drop` says. */
function counter(params: Record<string, unknown>): Stage {
  let n = 0;
  const tag = String(params.tag);
  return {
    name: 'counter',
    process(batch, ctx) {
      n += batch.length;
      if (params.alert) ctx.emit('alerts', [event(0, `${ctx.stage}:${n}`)]);
      return batch
        .filter((e) => !(params.drop as number[] | undefined)?.includes(e.seq))
        .map((e) => ({ ...e, data: Buffer.from(`${e.data}${tag}`) }));
    },
    snapshot: () => (n === 0 ? undefined : String(n)),
    restore: (state) => void (n = state ? Number(state.toString()) : 0),
  };
}
const stateless = (): Stage => ({ name: 'plain', process: (batch) => batch });

describe('fuseSteps', () => {
  const steps = [
    { name: 'a', factory: counter, params: { tag: 'A', drop: [2] } },
    { name: 'mid', factory: stateless, params: {} },
    { name: 'b', factory: counter, params: { tag: 'B', alert: true } },
  ];

  it('runs the steps in order, each on what the one before passed on, with its own params and name', async () => {
    const emitted = new Map<string, unknown[]>();
    const ctx = stageContext({}, emitted);
    const stage = fuseSteps('fused', steps)({});
    const out = await stage.process([event(1), event(2), event(3)], ctx);
    expect(out.map((e) => e.data.toString())).toEqual(['e1AB', 'e3AB']);
    // Step b saw two events; its emit went through the fused stage's context.
    expect((emitted.get('alerts') as StreamEvent[]).map((e) => e.data.toString())).toEqual(['test.b:2']);
  });

  it('snapshots every step, and a restore gives each step its own state back', async () => {
    const ctx = stageContext();
    const first = fuseSteps('fused', steps)({});
    await first.process([event(1), event(2), event(3)], ctx);
    const snap = first.snapshot!(ctx) as Buffer;
    const second = fuseSteps('fused', steps)({});
    second.restore!(snap, ctx);
    // Equal states give equal bytes: a: 3 events seen, b: 2.
    expect(Buffer.compare(second.snapshot!(ctx) as Buffer, snap)).toBe(0);
    const emitted = new Map<string, unknown[]>();
    await second.process([event(4)], stageContext({}, emitted));
    expect((emitted.get('alerts') as StreamEvent[]).map((e) => e.data.toString())).toEqual(['test.b:3']);
  });

  it('a step with no state yet restores to empty; no snapshot restores all to empty', async () => {
    const ctx = stageContext();
    const stage = fuseSteps('fused', steps)({});
    const empty = stage.snapshot!(ctx) as Buffer;
    await stage.process([event(1)], ctx);
    stage.restore!(empty, ctx);
    expect(Buffer.compare(stage.snapshot!(ctx) as Buffer, empty)).toBe(0);
    await stage.process([event(1)], ctx);
    stage.restore!(undefined, ctx);
    expect(Buffer.compare(stage.snapshot!(ctx) as Buffer, empty)).toBe(0);
  });

  it('refuses a snapshot of another number of steps, or a truncated one', async () => {
    const ctx = stageContext();
    const two = fuseSteps('fused', steps.slice(0, 2))({});
    await two.process([event(1)], ctx);
    const three = fuseSteps('fused', steps)({});
    expect(() => three.restore!(two.snapshot!(ctx) as Buffer, ctx)).toThrow(
      /fused-stage snapshot of 3 steps: it holds 2/,
    );
    await three.process([event(1)], ctx);
    const full = three.snapshot!(ctx) as Buffer;
    expect(() => three.restore!(full.subarray(0, full.length - 1), ctx)).toThrow(/truncated/);
  });

  it('has no snapshot when no step keeps state, and stops early once a step filters everything', async () => {
    let reached = false;
    const stage = fuseSteps('fused', [
      { name: 'none', factory: () => ({ name: 'none', process: () => [] }), params: {} },
      { name: 'after', factory: () => ({ name: 'after', process: (b) => ((reached = true), b) }), params: {} },
    ])({});
    expect(stage.snapshot).toBeUndefined();
    expect(await stage.process([event(1)], stageContext())).toEqual([]);
    expect(reached).toBe(false);
  });
});
