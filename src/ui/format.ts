/** Text helpers of the terminal UI: pure, so they are tested without a terminal. */

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

/** 1.2 KB, 34 MB, 1.1 GB. */
export function bytes(n: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v >= 10 || u === 0 ? Math.round(v) : v.toFixed(1)} ${units[u]}`;
}

/** 45s, 12m 5s, 3h 2m, 2d 4h. */
export function duration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86_400)}d ${Math.floor((s % 86_400) / 3600)}h`;
}

/** 12,345 */
export function count(n: number): string {
  return Math.round(n).toLocaleString('en');
}
