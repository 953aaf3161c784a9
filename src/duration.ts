import { z } from 'zod';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Parses a duration such as `500ms`, `30s`, `2m`, `1h` or a bare number of seconds.
 * @returns milliseconds, or undefined when the text is not a duration.
 */
export function parseDuration(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(text);
  if (!m) return undefined;
  return Math.round(Number(m[1]) * UNITS[m[2] ?? 's']!);
}

/**
 * A zod string that accepts a duration and yields milliseconds. Give defaults with `.prefault("30s")`:
 * zod 4 returns a `.default()` as it is, without the transform.
 */
export function durationSchema() {
  return z.union([z.string(), z.number()]).transform((value, ctx) => {
    const ms = typeof value === 'number' ? value * 1000 : parseDuration(value);
    if (ms === undefined || !Number.isFinite(ms) || ms < 0) {
      ctx.addIssue({ code: 'custom', message: `expected a duration like 500ms, 30s or 2m, got "${value}"` });
      return z.NEVER;
    }
    return ms;
  });
}

/** Formats milliseconds compactly for tables: `850ms`, `12.3s`, `4m05s`. */
export function formatDuration(ms: number): string {
  if (Math.round(ms) < 1000) return `${Math.round(ms)}ms`;
  if (Math.round(ms / 100) < 600) return `${(ms / 1000).toFixed(1)}s`;
  ms = Math.round(ms / 1000) * 1000;
  const m = Math.floor(ms / 60_000);
  const s = Math.floor((ms % 60_000) / 1000);
  return m < 60 ? `${m}m${String(s).padStart(2, '0')}s` : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}
