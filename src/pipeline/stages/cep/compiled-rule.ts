import { createHash } from 'node:crypto';
import type { CepCondition, CepRule } from './rules.js';
import { cmpStr, type CepEvent } from './event.js';

/** [time, event id] */
export type Mark = [number, string];
/** [time, event id, value] */
export type RunItem = [number, string, number];

/** What one rule keeps for one key. */
export interface KeyState {
  /** count: the last ≤ min matches in the window; sequence: the latest ≤ 2 first-events (distinct times); absence: the last seen. */
  marks: Mark[];
  /** trend: the current strictly increasing run (shorter than `length`). */
  run: RunItem[];
  /** The last alert raised: its time and id (cooldown and de-duplication). */
  last: Mark | undefined;
}

/** Whether an event meets a rule's conditions. */
export type Matcher = (e: CepEvent) => boolean;

/** A rule ready for evaluation, with its state of every key. */
export interface CompiledRule {
  rule: CepRule;
  index: number;
  fingerprint: string;
  match: Matcher;
  /** sequence: the second event's condition. */
  matchSecond: Matcher;
  keys: Map<string, KeyState>;
  lateDropped: number;
}

/**
 * Compiles the rules of an engine, each with its index in the list.
 * @throws Error when two rules have the same name.
 */
export function compileRules(rules: readonly CepRule[]): CompiledRule[] {
  const names = new Set<string>();
  return rules.map((rule, index) => {
    if (names.has(rule.name)) throw new Error(`cep: duplicate rule name "${rule.name}"`);
    names.add(rule.name);
    const never: Matcher = () => false;
    return {
      rule,
      index,
      fingerprint: fingerprint(rule),
      match: compileConditions(rule.kind === 'sequence' ? rule.first : rule.where),
      matchSecond: rule.kind === 'sequence' ? compileConditions(rule.second) : never,
      keys: new Map(),
      lateDropped: 0,
    };
  });
}

const NO_NAMES: string[] = [];

/**
 * The names of the rules an event was late for, sorted, as state holds them.
 * @param skip the rules' indexes
 */
export function lateNames(rules: readonly CompiledRule[], skip: readonly number[]): string[] {
  // Almost every event is late for no rule: they share one empty list.
  return skip.length === 0 ? NO_NAMES : skip.map((i) => rules[i]!.rule.name).sort(cmpStr);
}

function compare(x: number, op: NonNullable<CepCondition['op']>, y: number): boolean {
  switch (op) {
    case '>':
      return x > y;
    case '>=':
      return x >= y;
    case '<':
      return x < y;
    case '<=':
      return x <= y;
    case '==':
      return x === y;
    case '!=':
      return x !== y;
  }
}

/** A predicate for a list of conditions, all of which must hold (an empty list matches everything). */
function compileConditions(conditions: readonly CepCondition[]): Matcher {
  const parts: Matcher[] = [];
  for (const c of conditions) {
    if (c.anomaly !== undefined) {
      const want = c.anomaly;
      parts.push((e) => (e.anomaly === true) === want);
    }
    if (c.type !== undefined) {
      const types = new Set(typeof c.type === 'string' ? [c.type] : c.type);
      parts.push((e) => types.has(e.type));
    }
    if (c.field !== undefined && c.op !== undefined && c.value !== undefined) {
      const { field, op, value } = c;
      parts.push((e) => {
        const x = e[field];
        return typeof x === 'number' && Number.isFinite(x) && compare(x, op, value);
      });
    }
  }
  // A loop, not parts.every(p => p(e)): that callback would be a new closure per event and rule.
  return (e) => {
    for (let i = 0; i < parts.length; i++) if (!parts[i]!(e)) return false;
    return true;
  };
}

/** JSON with object keys sorted at every level: the same value always gives the same bytes. */
function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => cmpStr(a, b));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/**
 * A rule definition's identity in state: state saved under another definition of the rule is dropped. What the rule is
 * `for` does not change how it fires, so it keeps the state.
 */
function fingerprint(rule: CepRule): string {
  return createHash('sha256')
    .update(canonicalJson({ ...rule, for: undefined }))
    .digest('hex')
    .slice(0, 16);
}
