import { z } from 'zod';

/** How many dead letters a run may have: a count, or a percentage of the events produced. */
export type DeadLetterLimit = { count: number } | { percent: number };

/**
 * Parses `N` (a count) or `P%` (a percentage of the produced events, 0 to 100).
 * @returns undefined when the text is neither.
 */
export function parseDeadLetterLimit(text: string): DeadLetterLimit | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(%)?\s*$/.exec(text);
  if (!m) return undefined;
  const v = Number(m[1]);
  if (m[2]) return v <= 100 ? { percent: v } : undefined;
  return Number.isInteger(v) ? { count: v } : undefined;
}

/** A zod value that accepts a dead-letter limit (`--max-dead-letters 0`, `--max-dead-letters 0.5%`). */
export function deadLetterLimitSchema() {
  return z.union([z.string(), z.number()]).transform((value, ctx) => {
    const limit = parseDeadLetterLimit(String(value));
    if (!limit) {
      ctx.addIssue({
        code: 'custom',
        message: `expected a count like 10 or a percentage like 0.5%, got "${value}"`,
      });
      return z.NEVER;
    }
    return limit;
  });
}

/** Whether `deadLettered` of `produced` events is over the limit. */
export function overDeadLetterLimit(limit: DeadLetterLimit, deadLettered: number, produced: number): boolean {
  if ('count' in limit) return deadLettered > limit.count;
  return produced > 0 && (100 * deadLettered) / produced > limit.percent;
}

/** The limit as the user wrote it. */
export function formatDeadLetterLimit(limit: DeadLetterLimit): string {
  return 'count' in limit ? String(limit.count) : `${limit.percent}%`;
}
