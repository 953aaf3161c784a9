import type { StreamEvent } from './codec.js';
import type { Stage, StageContext, StageFactory } from './stage.js';

/** One step of a fused stage: a stage run inside another, with its own params. */
export interface FusedStep {
  name: string;
  factory: StageFactory;
  params: Record<string, unknown>;
}

/**
 * Snapshot layout: u16 step count, then per step u8 (0: no state, 1: state) and, with state, u32
 * length and the bytes. Positional, so the steps' order is part of the format; a snapshot whose step
 * count differs is refused rather than handed to the wrong step.
 */
function encodeSnapshots(parts: (Buffer | undefined)[]): Buffer {
  let size = 2;
  for (const p of parts) size += 1 + (p ? 4 + p.length : 0);
  const out = Buffer.allocUnsafe(size);
  out.writeUInt16BE(parts.length, 0);
  let at = 2;
  for (const p of parts) {
    out[at++] = p ? 1 : 0;
    if (!p) continue;
    out.writeUInt32BE(p.length, at);
    p.copy(out, at + 4);
    at += 4 + p.length;
  }
  return out;
}

function decodeSnapshots(buf: Buffer, steps: number, stage: string): (Buffer | undefined)[] {
  const bad = (why: string) => new Error(`${stage}: not a fused-stage snapshot of ${steps} steps: ${why}`);
  if (buf.length < 2) throw bad('too short');
  const n = buf.readUInt16BE(0);
  if (n !== steps) throw bad(`it holds ${n}`);
  const parts: (Buffer | undefined)[] = [];
  let at = 2;
  for (let i = 0; i < n; i++) {
    if (at >= buf.length) throw bad('truncated');
    const has = buf[at++];
    if (!has) {
      parts.push(undefined);
      continue;
    }
    if (at + 4 > buf.length) throw bad('truncated');
    const len = buf.readUInt32BE(at);
    if (at + 4 + len > buf.length) throw bad('truncated');
    parts.push(buf.subarray(at + 4, at + 4 + len));
    at += 4 + len;
  }
  return parts;
}

/**
 * Runs several stages as one: each batch goes through the steps in order inside one worker, and the
 * worker commits the last step's output, every step's emitted events and all the steps' state in one
 * atomic commit. Compared with one stage per step, it saves a stream hop (a read, a commit, an encode
 * and a decode of every event) per step; what it gives up is scaling the steps separately.
 *
 * Each step sees a context of its own (`stage` is `<stage>.<step>`, `params` its own params); an
 * event a step filters out never reaches the next step.
 */
export function fuseSteps(stageName: string, steps: readonly FusedStep[]): StageFactory {
  return () => {
    const stages: Stage[] = steps.map((s) => s.factory(s.params));
    const stateful = stages.some((s) => s.snapshot || s.restore);
    // The worker keeps one context per partition for the stage's lifetime, so the step contexts
    // are made once, from the first one seen.
    let parent: StageContext | undefined;
    let contexts: StageContext[] = [];
    const stepContexts = (ctx: StageContext): StageContext[] => {
      if (ctx !== parent) {
        parent = ctx;
        contexts = steps.map((s) => ({
          ...ctx,
          stage: `${ctx.stage}.${s.name}`,
          params: s.params,
          emit: (stream: string, events: StreamEvent[]) => ctx.emit(stream, events),
        }));
      }
      return contexts;
    };
    const fused: Stage = {
      name: stageName,
      async init(ctx) {
        const c = stepContexts(ctx);
        for (let i = 0; i < stages.length; i++) await stages[i]!.init?.(c[i]!);
      },
      async process(batch, ctx) {
        const c = stepContexts(ctx);
        let events = batch;
        for (let i = 0; i < stages.length && events.length > 0; i++) events = await stages[i]!.process(events, c[i]!);
        return events;
      },
    };
    if (stages.some((s) => s.state)) {
      // Entry state for all: a step's entries are named `<step index>.<entry>`; a step with a
      // snapshot instead keeps it whole in the entry `<step index>`.
      fused.state = {
        changes(ctx) {
          const c = stepContexts(ctx);
          const set: [string, Buffer | string][] = [];
          const del: string[] = [];
          stages.forEach((s, i) => {
            if (s.state) {
              const ch = s.state.changes(c[i]!);
              for (const [name, value] of ch.set) set.push([`${i}.${name}`, value]);
              for (const name of ch.del) del.push(`${i}.${name}`);
            } else if (s.snapshot) {
              const snap = s.snapshot(c[i]!);
              if (snap === undefined) del.push(String(i));
              else set.push([String(i), snap]);
            }
          });
          return { set, del };
        },
        load(entries, ctx) {
          const c = stepContexts(ctx);
          const byStep = stages.map(() => new Map<string, Buffer>());
          const whole = new Map<number, Buffer>();
          for (const [name, value] of entries ?? []) {
            const dot = name.indexOf('.');
            const i = Number(dot < 0 ? name : name.slice(0, dot));
            if (!Number.isInteger(i) || i < 0 || i >= stages.length)
              throw new Error(`${stageName}: state entry "${name}" belongs to no step of ${stages.length}`);
            if (dot < 0) whole.set(i, value);
            else byStep[i]!.set(name.slice(dot + 1), value);
          }
          stages.forEach((s, i) => {
            if (s.state) s.state.load(byStep[i]!.size ? byStep[i] : undefined, c[i]!);
            else s.restore?.(whole.get(i), c[i]!);
          });
        },
      };
    } else if (stateful) {
      fused.snapshot = (ctx) => {
        const c = stepContexts(ctx);
        return encodeSnapshots(
          stages.map((s, i) => {
            const snap = s.snapshot?.(c[i]!);
            return snap === undefined ? undefined : Buffer.isBuffer(snap) ? snap : Buffer.from(snap);
          }),
        );
      };
      fused.restore = (state, ctx) => {
        const c = stepContexts(ctx);
        const parts = state && state.length > 0 ? decodeSnapshots(state, stages.length, stageName) : [];
        stages.forEach((s, i) => s.restore?.(parts[i], c[i]!));
      };
    }
    return fused;
  };
}
