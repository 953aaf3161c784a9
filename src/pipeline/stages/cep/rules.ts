import { z } from 'zod';
import { parseDuration } from '../../../duration.js';

/**
 * Rules of the built-in `cep` stage, as declared in a pipeline file under the stage's `params.rules`.
 *
 * Durations are milliseconds when given as numbers and duration strings otherwise (`500ms`, `30s`,
 * `2m`, `1h`; a bare numeric string is seconds, as everywhere in streamctl). "Within X" is inclusive:
 * two events 30s apart are within 30s.
 */

/** Event fields a `field` condition (and a trend) can compare. */
const CEP_FIELDS = ['value', 'score', 'z'] as const;
export type CepField = (typeof CEP_FIELDS)[number];

const CEP_OPS = ['>', '>=', '<', '<=', '==', '!='] as const;
export type CepOp = (typeof CEP_OPS)[number];

/** Rule names end up in alert ids (`rule|key|start|end`), so they hold no `|`. */
const RULE_NAME = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;

/** A kind of the events' ground truth, as `metricWorkload` writes them (`spike`, `error_burst`, ...). */
const KIND_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

const MAX_LATENESS = 3_600_000;
const MAX_WINDOW = 7 * 24 * 3_600_000;

/** A duration in milliseconds: a number of ms or a duration string; at least 0 (more than 0 when `positive`), at most `max`. */
function msDuration(opts: { positive?: boolean; max: number }) {
  return z.union([z.number(), z.string()]).transform((input, ctx) => {
    const ms = typeof input === 'number' ? input : parseDuration(input);
    if (ms === undefined || !Number.isFinite(ms)) {
      ctx.addIssue({
        code: 'custom',
        message: `expected milliseconds or a duration like 500ms, 30s or 2m, got ${JSON.stringify(input)}`,
      });
      return z.NEVER;
    }
    if (opts.positive ? ms <= 0 : ms < 0) {
      ctx.addIssue({
        code: 'custom',
        message: `must be ${opts.positive ? 'more than 0' : 'at least 0'}, got ${JSON.stringify(input)}`,
      });
      return z.NEVER;
    }
    if (ms > opts.max) {
      ctx.addIssue({ code: 'custom', message: `must be at most ${opts.max}ms, got ${JSON.stringify(input)}` });
      return z.NEVER;
    }
    return ms;
  });
}

/**
 * One match condition; the parts given must all hold:
 * `{ anomaly: true }`, `{ type: 'errors' }` (or a list of types), `{ field: 'value', op: '>', value: 90 }`.
 * A comparison with a field the event lacks (e.g. no `score`) does not hold, whatever the op.
 */
export const cepConditionSchema = z
  .strictObject({
    anomaly: z.boolean().optional(),
    type: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
    field: z.enum(CEP_FIELDS).optional(),
    op: z.enum(CEP_OPS).optional(),
    value: z.number().refine(Number.isFinite, 'must be a finite number').optional(),
  })
  .superRefine((c, ctx) => {
    const compare = c.field !== undefined || c.op !== undefined || c.value !== undefined;
    if (compare) {
      for (const part of ['field', 'op', 'value'] as const) {
        if (c[part] === undefined)
          ctx.addIssue({ code: 'custom', path: [part], message: 'a comparison needs field, op and value' });
      }
    } else if (c.anomaly === undefined && c.type === undefined) {
      ctx.addIssue({ code: 'custom', message: 'an empty condition: give anomaly, type, or field/op/value' });
    }
  });

export type CepCondition = z.output<typeof cepConditionSchema>;

/** A condition or a list of them (all must hold); the output is always a list. */
const whereSchema = z.unknown().transform((input, ctx): CepCondition[] => {
  const list = Array.isArray(input);
  const result = z
    .array(cepConditionSchema)
    .min(1)
    .safeParse(list ? input : [input]);
  if (!result.success) {
    // A single object is reported at its own path, not as item 0 of a list the user never wrote.
    for (const issue of result.error.issues)
      ctx.addIssue({ ...issue, path: list ? issue.path : issue.path.slice(1) } as Parameters<typeof ctx.addIssue>[0]);
    return z.NEVER;
  }
  return result.data;
});

const common = {
  name: z.string().regex(RULE_NAME, 'use letters, digits, _, . or -, starting with a letter (at most 64)'),
  /** How far behind the partition's newest event time an event may arrive and still count. */
  lateness: msDuration({ max: MAX_LATENESS }).default(5_000),
  /** No second alert of the rule for the same key within this long after one (default: the window). */
  cooldown: msDuration({ max: MAX_WINDOW }).optional(),
  for: z
    .array(z.string().regex(KIND_NAME, 'a ground-truth kind name: letters, digits, _, . or -'))
    .min(1)
    .max(64)
    .optional()
    .describe(
      'The ground-truth anomaly kinds the rule is meant to find (e.g. [error_burst, level_shift]), for judging its ' +
        'alerts (`streamctl verify`); default every kind. It changes nothing in how the rule fires.',
    ),
};

const countSchema = z.strictObject({
  ...common,
  kind: z.literal('count'),
  where: whereSchema.optional(),
  min: z.number().int().min(1).max(10_000),
  window: msDuration({ positive: true, max: MAX_WINDOW }),
});

const sequenceSchema = z.strictObject({
  ...common,
  kind: z.literal('sequence'),
  first: whereSchema,
  second: whereSchema,
  within: msDuration({ positive: true, max: MAX_WINDOW }),
});

const trendSchema = z.strictObject({
  ...common,
  kind: z.literal('trend'),
  where: whereSchema.optional(),
  field: z.enum(CEP_FIELDS).default('value'),
  length: z.number().int().min(2).max(1_000),
  /** A longer silence between two matching events of the key breaks the run. */
  maxGap: msDuration({ positive: true, max: MAX_WINDOW }).default(300_000),
});

const absenceSchema = z.strictObject({
  ...common,
  kind: z.literal('absence'),
  where: whereSchema.optional(),
  window: msDuration({ positive: true, max: MAX_WINDOW }),
});

/** What a rule is for: judging its alerts, not firing them. */
interface CepRuleTarget {
  /** The ground-truth kinds the rule is meant to find; undefined: every kind. */
  for?: string[];
}

/** A count rule: at least `min` matching events of a key within `window`. */
export interface CepCountRule extends CepRuleTarget {
  kind: 'count';
  name: string;
  lateness: number;
  cooldown: number;
  where: CepCondition[];
  min: number;
  window: number;
}

/** A sequence rule: an event matching `first`, then (strictly later) one matching `second` within `within`. */
export interface CepSequenceRule extends CepRuleTarget {
  kind: 'sequence';
  name: string;
  lateness: number;
  cooldown: number;
  first: CepCondition[];
  second: CepCondition[];
  within: number;
}

/** A trend rule: `length` consecutive strictly increasing `field` values of a key's matching events. */
export interface CepTrendRule extends CepRuleTarget {
  kind: 'trend';
  name: string;
  lateness: number;
  cooldown: number;
  where: CepCondition[];
  field: CepField;
  length: number;
  maxGap: number;
}

/** An absence rule: a key seen before has no matching event for longer than `window`. */
export interface CepAbsenceRule extends CepRuleTarget {
  kind: 'absence';
  name: string;
  lateness: number;
  cooldown: number;
  where: CepCondition[];
  window: number;
}

/** A validated rule: durations in ms, `where` a list (empty: every event), cooldown resolved. */
export type CepRule = CepCountRule | CepSequenceRule | CepTrendRule | CepAbsenceRule;

/** One rule as written in a pipeline file. */
const cepRuleSchema = z
  .discriminatedUnion('kind', [countSchema, sequenceSchema, trendSchema, absenceSchema])
  .transform((r): CepRule => {
    const target = r.for ? { for: r.for } : {};
    switch (r.kind) {
      case 'count':
        return {
          ...target,
          kind: r.kind,
          name: r.name,
          lateness: r.lateness,
          cooldown: r.cooldown ?? r.window,
          where: r.where ?? [],
          min: r.min,
          window: r.window,
        };
      case 'sequence':
        return {
          ...target,
          kind: r.kind,
          name: r.name,
          lateness: r.lateness,
          cooldown: r.cooldown ?? r.within,
          first: r.first,
          second: r.second,
          within: r.within,
        };
      case 'trend':
        // A run restarts after each match, so repeats need no cooldown by default.
        return {
          ...target,
          kind: r.kind,
          name: r.name,
          lateness: r.lateness,
          cooldown: r.cooldown ?? 0,
          where: r.where ?? [],
          field: r.field,
          length: r.length,
          maxGap: r.maxGap,
        };
      case 'absence':
        return {
          ...target,
          kind: r.kind,
          name: r.name,
          lateness: r.lateness,
          cooldown: r.cooldown ?? r.window,
          where: r.where ?? [],
          window: r.window,
        };
    }
  });

export type CepRuleInput = z.input<typeof cepRuleSchema>;

/** The `rules` of a cep stage: at least one, names unique. */
export const cepRulesSchema = z
  .array(cepRuleSchema)
  .min(1)
  .max(256)
  .superRefine((rules, ctx) => {
    const seen = new Set<string>();
    rules.forEach((r, i) => {
      if (seen.has(r.name))
        ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `duplicate rule name "${r.name}"` });
      seen.add(r.name);
    });
  });

/**
 * The rules of a cep stage whose pipeline file gives none: for scored metric events with anomaly flags. Each is judged by
 * `streamctl verify` against the anomaly episodes of the kinds it is `for`; the README has its figures.
 */
const DEFAULT_RULE_INPUTS: readonly CepRuleInput[] = [
  // A key flagged twice within 10s: an anomaly that lasts (a level shift, an error burst), not a one-event blip.
  {
    name: 'anomaly-burst',
    kind: 'count',
    where: { anomaly: true },
    min: 2,
    window: '10s',
    for: ['level_shift', 'error_burst'],
  },
  // An errors key flagged, then a count beyond where a level shift goes (z > 10) within 10s: an error burst.
  {
    name: 'error-burst',
    kind: 'sequence',
    first: [{ type: 'errors' }, { anomaly: true }],
    second: [{ type: 'errors' }, { field: 'z', op: '>', value: 10 }],
    within: '10s',
    for: ['error_burst'],
  },
];

export const DEFAULT_RULES: readonly CepRule[] = cepRulesSchema.parse(DEFAULT_RULE_INPUTS);
