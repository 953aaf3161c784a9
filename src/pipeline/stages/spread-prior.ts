import { ByteReader, ByteWriter } from './state-bytes.js';

/**
 * The typical spread of a metric type's values relative to their level (their coefficient of
 * variation), pooled over the keys of that type. A key with only a value or two has no spread of
 * its own to score a new value against; its type's does, scaled to the key's level, until the key's
 * own values outweigh it.
 *
 * It is learned from the values of every key, warming up or not: each value's distance to its
 * key's mean so far, over the key's level. Values far beyond what the type has shown (spikes) do
 * not teach it. It is partition state beside the keys' statistics (an entry per type, named with
 * `SPREAD_ENTRY`), so a restart scores as the run before it would have.
 */
export class SpreadPrior {
  private byType = new Map<string, { mad: number; n: number }>();
  private readonly dirty = new Set<string>();

  /**
   * The relative standard deviation of `type`'s values (sigma over the level), once enough values
   * have been seen; undefined before.
   */
  cv(type: string): number | undefined {
    const t = this.byType.get(type);
    // A mean absolute deviation is sigma * sqrt(2 / pi) for normal values.
    return t && t.n >= MIN_VALUES ? t.mad * Math.sqrt(Math.PI / 2) : undefined;
  }

  /**
   * Learns from `value`, the next value of a key whose `n` values so far have the mean `mean`;
   * a key's first value (n = 0) or a level of 0 teaches nothing.
   */
  learn(type: string, value: number, mean: number, n: number): void {
    if (n < 1 || mean === 0 || !Number.isFinite(value)) return;
    // The distance to a mean of n values has variance sigma^2 (1 + 1/n): scaled back to sigma.
    const dev = Math.abs(value - mean) / Math.abs(mean) / Math.sqrt(1 + 1 / n);
    let t = this.byType.get(type);
    if (!t) {
      if (this.byType.size >= MAX_TYPES) return;
      this.byType.set(type, (t = { mad: dev, n: 1 }));
    } else {
      if (t.n >= MIN_VALUES && dev > OUTLIER * t.mad) return;
      if (t.n < HORIZON) t.n++;
      t.mad += (dev - t.mad) / t.n;
    }
    this.dirty.add(type);
  }

  /** The types learned from since the last call, as state entries (name, bytes). */
  changes(writer = new ByteWriter(32)): [string, Buffer][] {
    const out: [string, Buffer][] = [];
    for (const type of this.dirty) {
      const t = this.byType.get(type)!;
      out.push([SPREAD_ENTRY + type, writer.u8(FORMAT).f64(t.mad).f64(t.n).take()]);
    }
    this.dirty.clear();
    return out;
  }

  /** Forgets everything, as before a load. */
  clear(): void {
    this.byType = new Map();
    this.dirty.clear();
  }

  /**
   * Takes a committed entry if it is a type's spread (its name starts with `SPREAD_ENTRY`).
   * @returns whether it was one.
   * @throws Error for a spread entry of an unknown format.
   */
  load(name: string, entry: Buffer): boolean {
    if (!name.startsWith(SPREAD_ENTRY)) return false;
    const r = new ByteReader(entry);
    const format = r.u8();
    if (format !== FORMAT) throw new Error(`enrich: a type spread entry of unknown format ${format}`);
    this.byType.set(name.slice(SPREAD_ENTRY.length), { mad: r.f64(), n: r.f64() });
    r.end();
    return true;
  }
}

/** The state entry name of a type's spread: this, then the type (a key name never starts with NUL). */
export const SPREAD_ENTRY = '\u0000spread:';

const FORMAT = 1;
/** Types with a spread at most: more are rare in practice, and each costs an entry. */
const MAX_TYPES = 64;

/** Values of a type before its spread is used. */
const MIN_VALUES = 8;
/** Deviations beyond this many mean deviations (about 5 sigma) are outliers and teach nothing. */
const OUTLIER = 6;
/** The spread follows about this many of the latest values: a running mean until then. */
const HORIZON = 500;
