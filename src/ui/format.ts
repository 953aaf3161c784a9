/**
 * Text helpers of the terminal UI: pure, so they are tested without a terminal (bytes and durations
 * are the tables' own, `formatBytes` and `formatDuration`).
 */

const TICKS = '▁▂▃▄▅▆▇█';

/** A sparkline of `values` (the newest last), `width` characters, scaled to their maximum. */
export function sparkline(values: readonly number[], width: number): string {
  const shown = values.slice(-width);
  const max = Math.max(0, ...shown);
  const line = shown.map((v) =>
    max <= 0 ? TICKS[0] : TICKS[Math.min(TICKS.length - 1, Math.floor((v / max) * (TICKS.length - 1)))],
  );
  return line.join('').padStart(width, ' ');
}

/** A bar of `width` characters, filled to `part / whole` (clamped). */
export function bar(part: number, whole: number, width: number): string {
  const filled = whole > 0 ? Math.round(Math.min(1, Math.max(0, part / whole)) * width) : 0;
  return `${'█'.repeat(filled)}${'░'.repeat(width - filled)}`;
}

/** 12,345 */
export function count(n: number): string {
  return Math.round(n).toLocaleString('en');
}
