import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { durationSchema } from '../../duration.js';
import { UsageError } from '../../errors.js';
import { FAULT_KINDS } from '../fault.js';

/** What a gate measures. Live metrics are read every second while the run goes on; the others once it is over. */
export const LIVE_METRICS = ['lag', 'health', 'dead_letters', 'stall'] as const;
export const FINAL_METRICS = ['lost', 'duplicates', 'undelivered', 'unavailability', 'recovery', 'p99'] as const;
export type LiveMetric = (typeof LIVE_METRICS)[number];
export type GateMetric = LiveMetric | (typeof FINAL_METRICS)[number];

/**
 * A threshold: a number (events, entries; for times, ms), a duration (`30s`), or relative to the
 * run's own steady state (`3x steady`), which holds on a slow machine and still fails on a broken one.
 */
const threshold = z.union([z.number(), z.string()]).transform((v, ctx) => {
  if (typeof v === 'number') return { value: v } as Threshold;
  const rel = /^\s*(\d+(?:\.\d+)?)\s*x\s+steady\s*$/i.exec(v);
  if (rel) return { factor: Number(rel[1]) } as Threshold;
  const ms = durationSchema().safeParse(v);
  if (ms.success) return { value: ms.data } as Threshold;
  ctx.addIssue({ code: 'custom', message: `expected a number, a duration like 30s, or "3x steady", got "${v}"` });
  return z.NEVER;
});

/** An absolute value, or a factor of the steady state's value of the same metric. */
export type Threshold = { value: number; factor?: undefined } | { factor: number; value?: undefined };

const gateSchema = z
  .strictObject({
    metric: z.enum([...LIVE_METRICS, ...FINAL_METRICS]),
    /** p99: of which phase (default during). */
    phase: z.enum(['steady', 'during', 'after']).optional(),
    max: threshold.optional(),
    equals: z.string().optional(),
    /** During the method: stop the load and heal at once when it fails. */
    abort: z.boolean().default(false),
  })
  .refine((g) => (g.max === undefined) !== (g.equals === undefined), {
    message: 'a gate has exactly one of max or equals',
  })
  .refine((g) => g.equals === undefined || g.metric === 'health', {
    message: 'equals applies to the health metric (ok, degraded, down)',
  });

export type Gate = z.output<typeof gateSchema>;

const faultSchema = z.strictObject({
  fault: z.enum(FAULT_KINDS),
  /** When, from the start of the load. */
  at: durationSchema(),
  /** Lasting faults: how long. */
  for: durationSchema().optional(),
  node: z.union([z.string(), z.number()]).transform(String).optional(),
  role: z.enum(['primary', 'replica']).optional(),
  random: z.boolean().optional(),
  seed: z.number().int().default(1),
  stage: z.string().optional(),
  count: z.number().int().min(1).default(1),
  mode: z.enum(['all', 'write']).optional(),
  /** Node faults: every node that is up (of `role`), one after another. */
  all: z.boolean().optional(),
  /** Network faults (`up --fault-proxy`). */
  ms: z.number().min(0).optional(),
  jitter: z.number().min(0).optional(),
  kbps: z.number().positive().optional(),
  direction: z.enum(['upstream', 'downstream', 'both']).optional(),
  /** loss: the share of packets dropped, in percent. */
  percent: z.number().positive().max(100).optional(),
});

export type ScenarioFault = z.output<typeof faultSchema>;

/** A chaos experiment, in the shape of Chaos Toolkit's: load, steady state, method, gates, rollbacks. */
export const scenarioSchema = z.strictObject({
  title: z.string().min(1),
  description: z.string().optional(),
  load: z.strictObject({
    rate: z.number().positive(),
    duration: durationSchema(),
    keys: z.number().int().positive().default(1000),
    anomaly_rate: z.number().min(0).max(1).default(0.01),
    /** The first part of the load, left out of the steady state (workers warming up). */
    warmup: durationSchema().default(3000),
    /** Appends WAIT for a replica (`produce --durable`): a write no replica holds is not acknowledged. */
    durable: z.boolean().default(false),
  }),
  /** Checked on the live metrics just before the first fault: the system must be steady to learn anything. */
  steady_state: z.array(gateSchema).default([]),
  method: z.array(faultSchema).min(1),
  gates: z
    .strictObject({
      during: z.array(gateSchema).default([]),
      after: z.array(gateSchema).default([]),
    })
    .default({ during: [], after: [] }),
  /** Always run at the end, whatever happened: heal reverts every recorded fault, repair asks the supervisor to restart what it gave up on. */
  rollbacks: z.array(z.enum(['heal', 'repair'])).default(['heal']),
});

export type Scenario = z.output<typeof scenarioSchema>;

/**
 * Reads a scenario file.
 * @throws UsageError BAD_SCENARIO (exit 2) naming the file and the first problem.
 */
export function loadScenario(file: string): Scenario {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(
      'BAD_SCENARIO',
      `cannot read ${file}: ${(err as Error).message}`,
      'give a scenario file (YAML)',
    );
  }
  return parseScenario(text, file);
}

/** Parses and checks a scenario's YAML text; `where` names it in errors. */
export function parseScenario(text: string, where: string): Scenario {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new UsageError('BAD_SCENARIO', `${where}: not YAML: ${(err as Error).message}`, 'fix the file');
  }
  const r = scenarioSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new UsageError(
      'BAD_SCENARIO',
      `${where}: ${issue.path.join('.') || '(top)'}: ${issue.message}`,
      'see the scenario format in the README (`streamctl chaos run --help`)',
    );
  }
  const s = r.data;
  const end = s.load.duration;
  for (const [i, f] of s.method.entries()) {
    if (f.at < s.load.warmup || f.at >= end)
      throw new UsageError(
        'BAD_SCENARIO',
        `${where}: method.${i}.at: ${f.at} ms is outside the load after its warm-up (${s.load.warmup}..${end} ms)`,
        'put every fault after load.warmup and before the end of load.duration',
      );
  }
  for (const g of [...s.steady_state, ...s.gates.during])
    if (!(LIVE_METRICS as readonly string[]).includes(g.metric))
      throw new UsageError(
        'BAD_SCENARIO',
        `${where}: the ${g.metric} gate can only be checked after the run`,
        `steady_state and during gates take ${LIVE_METRICS.join(', ')}; put ${g.metric} under gates.after`,
      );
  return s;
}
