/**
 * The realistic synthetic workload: metric events from K hosts/sensors with injected, labelled anomalies,
 * and a cheap reader of the ground truth of an event.
 *
 * An event's data is UTF-8 JSON, built by hand (no JSON.stringify) so that generation stays fast:
 *   {"key":"host-0042","type":"cpu","value":57.31,"time":1700000000000,"truth":{"anomaly":false}}
 *   {"key":"host-0007","type":"errors","value":93,"time":1700000000123,"truth":{"anomaly":true,"kind":"error_burst","episode":42}}
 *
 * Model, per key (all drawn from the seed):
 * - one type: cpu (%), mem (%), latency (ms) or errors (a count per event);
 * - a baseline mean and a noise level sigma in a range fitting the type (cpu/mem/latency: sigma is 1.5-4.5% of the mean;
 *   errors: sigma is about sqrt(mean), as for counts);
 * - slow drift: a sine of amplitude 0.5-2 sigma whose period is 2,000-20,000 of that key's events;
 * - each normal value is baseline + drift + Gaussian noise, clamped to the type's range, written with 2 decimals (errors: rounded
 *   to an integer).
 *
 * Time is event time, never the wall clock: the i-th event overall (from 0) has time T0 + i * stepMs, so two runs with the
 * same seed and options give byte-identical events, and the events of every key come in increasing time.
 *
 * Anomalies (anomalyRate p): an event of a key that is not inside an anomaly episode starts one with a probability q chosen so
 * that, in the long run, a fraction p of all events is labelled (q = p / (E * (1 - p) + p), E = the mean number of labelled
 * events of an episode for that key's type). Kinds:
 * - spike: one value at level + 7..12 sigma (all types);
 * - drop: one value at level - 7..12 sigma, never below 0 (cpu, mem, latency: a drop of a count is not remarkable);
 * - level_shift: the key's level jumps by 5..8 sigma and STAYS there (the new normal) until the next level_shift episode of
 *   that key, which jumps back to the original baseline (so a key's level is never more than 8 sigma away from it). Only the
 *   first 3 events of the key at the new level are labelled (kind level_shift); later ones are normal.
 * - error_burst: (errors keys only) 3..6 consecutive events of that key with very high counts (level + 12..25 sigma), each labelled.
 *
 * Episodes: consecutive labelled events of one key (consecutive among that key's events) and of one kind form an episode,
 * the unit an alert is judged by (a detector that sees any event of it has seen it). Episodes are numbered from 1 in the order
 * they start, and a labelled event's truth names its episode (`"episode":42`). So a level_shift's 3 labelled events share one
 * id, as do an error_burst's 3..6; and two episodes drawn back to back for a key, of the same kind (a spike right after a
 * spike, a level_shift straight back), are one episode by this definition, with one id.
 *
 * Key choice, noise and anomalies use separate random streams of the seed, so the same seed gives the same keys and, apart from
 * the anomalies and shifted levels, the same values whatever the anomaly rate.
 */
import { prng } from '../ml/random.js';
import type { EventSource } from './event-source.js';

/** Event time of the first event (ms since the epoch: 2023-11-14T22:13:20Z). */
const METRIC_T0 = 1_700_000_000_000;

const METRIC_TYPES = ['cpu', 'mem', 'latency', 'errors'] as const;

/** Ground truth of an event. `kind` and `episode` (see the module comment) are set for anomalies. */
export interface Truth {
  anomaly: boolean;
  kind?: string;
  episode?: number;
}

export interface MetricEvent {
  key: string;
  /** The event's JSON, UTF-8. */
  data: Buffer;
  truth: Truth;
  /** The event time written in `data` (ms). */
  time: number;
}

export interface MetricWorkloadOptions {
  /** Distinct keys (hosts/sensors), >= 1. */
  keys: number;
  seed: number;
  /** Fraction of events labelled anomalous, 0..1. */
  anomalyRate: number;
  /** Event time between consecutive events (overall, not per key), > 0; default 1 ms. */
  stepMs?: number;
}

export interface MetricWorkload extends EventSource {
  next(): MetricEvent;
}

/** Events of a level_shift episode that are labelled (the first at the new level and the next ones of that key). */
const LEVEL_SHIFT_LABELLED = 3;

const CPU = 0;
const MEM = 1;
const LATENCY = 2;
const ERRORS = 3;

const NONE = 0;
const SPIKE = 1;
const DROP = 2;
const SHIFT = 3;
const BURST = 4;
const ZEROS = ['', '0', '00', '000', '0000', '00000'] as const;
const KIND_NAMES = ['', 'spike', 'drop', 'level_shift', 'error_burst'] as const;

// Kind mix of a new episode, by type: cumulative thresholds.
// cpu/mem/latency: spike 0.4, drop 0.3, level_shift 0.3 -> mean labelled events E = 0.4 + 0.3 + 0.3 * 3 = 1.6
// errors: spike 0.3, level_shift 0.3, error_burst 0.4 (3..6 events, mean 4.5) -> E = 0.3 + 0.9 + 1.8 = 3.0
const E_GAUGE = 0.4 * 1 + 0.3 * 1 + 0.3 * LEVEL_SHIFT_LABELLED;
const E_ERRORS = 0.3 * 1 + 0.3 * LEVEL_SHIFT_LABELLED + 0.4 * 4.5;

/** murmur3's finalizer: a well-mixed 32-bit hash. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** An independent 32-bit seed for random stream `stream` of `seed` (any integer, also beyond 32 bits or negative). */
function subSeed(seed: number, stream: number): number {
  const lo = seed >>> 0;
  const hi = Math.floor(seed / 4294967296) >>> 0;
  return fmix32(lo ^ fmix32(hi ^ fmix32(Math.imul(stream + 1, 0x9e3779b9))));
}

function keyName(i: number, width: number): string {
  return `host-${String(i).padStart(width, '0')}`;
}

/** The key names a workload of `keys` keys uses: `host-0000` ... */
export function metricKeyNames(keys: number): string[] {
  const width = Math.max(4, String(keys - 1).length);
  return Array.from({ length: keys }, (_, i) => keyName(i, width));
}

/** Metric events from `keys` keys with labelled anomalies; see the module comment for the model. */
export function metricWorkload(opts: MetricWorkloadOptions): MetricWorkload {
  const K = opts.keys;
  const p = opts.anomalyRate;
  const step = opts.stepMs ?? 1;
  if (!Number.isInteger(K) || K < 1 || K > 2 ** 31 - 1)
    throw new RangeError(`keys must be a positive integer, got ${K}`);
  if (!(p >= 0 && p <= 1)) throw new RangeError(`anomalyRate must be in 0..1, got ${p}`);
  if (!(step > 0 && Number.isFinite(step))) throw new RangeError(`stepMs must be a positive number, got ${step}`);
  if (!Number.isFinite(opts.seed)) throw new RangeError(`seed must be a finite number, got ${opts.seed}`);

  const paramRand = prng(subSeed(opts.seed, 0));
  const keyRand = prng(subSeed(opts.seed, 1));
  const noiseRand = prng(subSeed(opts.seed, 2));
  const aRand = prng(subSeed(opts.seed, 3));

  const width = Math.max(4, String(K - 1).length);
  const names: string[] = new Array<string>(K);
  const prefix: string[] = new Array<string>(K);
  const type = new Uint8Array(K);
  const mean = new Float64Array(K);
  const sigma = new Float64Array(K);
  const amp = new Float64Array(K);
  const omega = new Float64Array(K);
  const phase = new Float64Array(K);
  const offset = new Float64Array(K);
  const count = new Float64Array(K);
  const episodeKind = new Uint8Array(K);
  const episodeLeft = new Uint8Array(K);
  // The kind of each key's previous event and, when labelled, its episode: a labelled event of the same kind continues it.
  const lastKind = new Uint8Array(K);
  const lastEpisode = new Float64Array(K);
  let episodes = 0;
  for (let k = 0; k < K; k++) {
    const t = Math.min(3, Math.floor(paramRand() * 4));
    type[k] = t;
    let m: number;
    let sd: number;
    if (t === CPU) {
      m = 5 + 40 * paramRand();
      sd = m * (0.015 + 0.03 * paramRand());
    } else if (t === MEM) {
      m = 25 + 25 * paramRand();
      sd = m * (0.015 + 0.03 * paramRand());
    } else if (t === LATENCY) {
      m = 2 * Math.pow(200, paramRand()); // log-uniform 2..400 ms
      sd = m * (0.015 + 0.03 * paramRand());
    } else {
      m = 4 + 36 * paramRand();
      sd = Math.sqrt(m) * (0.8 + 0.4 * paramRand());
    }
    mean[k] = m;
    sigma[k] = sd;
    amp[k] = sd * (0.5 + 1.5 * paramRand());
    omega[k] = (2 * Math.PI) / (2000 + 18000 * paramRand());
    phase[k] = 2 * Math.PI * paramRand();
    const name = keyName(k, width);
    names[k] = name;
    prefix[k] = `{"key":"${name}","type":"${METRIC_TYPES[t]}","value":`;
  }

  // Start probability of an episode at an event outside one, by type (see the module comment).
  const qGauge = p / (E_GAUGE * (1 - p) + p);
  const qErrors = p / (E_ERRORS * (1 - p) + p);
  const normalTail = ',"truth":{"anomaly":false}}';
  const truthHead = KIND_NAMES.map((kind) => `,"truth":{"anomaly":true,"kind":"${kind}","episode":`);

  // Box-Muller, two normals per pair of uniforms; exactly one normal is drawn per event so the noise stream stays aligned.
  let spare = 0;
  let hasSpare = false;
  const gauss = (): number => {
    if (hasSpare) {
      hasSpare = false;
      return spare;
    }
    const r = Math.sqrt(-2 * Math.log(1 - noiseRand()));
    const a = 2 * Math.PI * noiseRand();
    spare = r * Math.sin(a);
    hasSpare = true;
    return r * Math.cos(a);
  };

  // Time text: the millions (cached, they change every 1e6 ms) and the rest, zero-padded to 6 digits.
  const intTime = Number.isInteger(step);
  let timeHi = -1;
  let timeHiText = '';

  let index = 0;
  return {
    next(): MetricEvent {
      const i = index++;
      const k = Math.floor(keyRand() * K);
      const t = type[k]!;
      const n = count[k]!;
      count[k] = n + 1;
      const sd = sigma[k]!;
      const z = gauss();
      let level = mean[k]! + offset[k]! + amp[k]! * Math.sin(omega[k]! * n + phase[k]!);
      let value: number;
      let kind = NONE;
      const left = episodeLeft[k]!;
      if (left > 0) {
        episodeLeft[k] = left - 1;
        kind = episodeKind[k]!;
        value = kind === BURST ? level + sd * (12 + 13 * aRand()) : level + sd * z;
      } else if (p > 0 && aRand() < (t === ERRORS ? qErrors : qGauge)) {
        const u = aRand();
        kind = t === ERRORS ? (u < 0.3 ? SPIKE : u < 0.6 ? SHIFT : BURST) : u < 0.4 ? SPIKE : u < 0.7 ? DROP : SHIFT;
        if (kind === SPIKE) {
          value = level + sd * (7 + 5 * aRand());
        } else if (kind === DROP) {
          value = level - sd * (7 + 5 * aRand());
        } else if (kind === SHIFT) {
          const jump = sd * (5 + 3 * aRand());
          const o = offset[k]!;
          // Shifted: jump back to the baseline. Otherwise jump away: errors only up, others either way.
          const delta = o !== 0 ? -o : t === ERRORS || aRand() < 0.5 ? jump : -jump;
          offset[k] = o + delta;
          level += delta;
          value = level + sd * z;
          episodeKind[k] = SHIFT;
          episodeLeft[k] = LEVEL_SHIFT_LABELLED - 1;
        } else {
          value = level + sd * (12 + 13 * aRand());
          episodeKind[k] = BURST;
          episodeLeft[k] = 2 + Math.floor(4 * aRand()); // 3..6 events in all
        }
      } else {
        value = level + sd * z;
      }
      // Formatting numbers by hand from small integers is faster than String(double).
      let text: string;
      if (t === ERRORS) {
        text = value > 0 ? String(Math.round(value)) : '0';
      } else {
        if (value < 0) value = 0;
        else if (value > 100 && t !== LATENCY) value = 100;
        const cents = Math.round(value * 100);
        const whole = Math.floor(cents / 100);
        const frac = cents - whole * 100;
        text = whole + (frac < 10 ? '.0' : '.') + frac; // always 2 decimals: 57.30
      }
      const time = METRIC_T0 + i * step;
      let timeText: string;
      if (intTime) {
        const hi = Math.floor(time / 1e6);
        const lo = time - hi * 1e6;
        if (hi !== timeHi) {
          timeHi = hi;
          timeHiText = String(hi);
        }
        const loText = String(lo);
        timeText = timeHiText + ZEROS[6 - loText.length]! + loText;
      } else {
        timeText = String(time);
      }
      const head = prefix[k]! + text + ',"time":' + timeText;
      if (kind === NONE) {
        lastKind[k] = NONE;
        return { key: names[k]!, data: Buffer.from(head + normalTail, 'latin1'), truth: { anomaly: false }, time };
      }
      let episode = lastEpisode[k]!;
      if (lastKind[k] !== kind) {
        episode = ++episodes;
        lastKind[k] = kind;
        lastEpisode[k] = episode;
      }
      return {
        key: names[k]!,
        data: Buffer.from(head + truthHead[kind]! + episode + '}}', 'latin1'),
        truth: { anomaly: true, kind: KIND_NAMES[kind], episode },
        time,
      };
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------------
// Ground truth of an event

const TAIL_NORMAL = Buffer.from('"truth":{"anomaly":false}}');
const TAIL_ANOMALY_NO_KIND = Buffer.from('"truth":{"anomaly":true}}');
const ANOMALY_KIND_HEAD = Buffer.from('"truth":{"anomaly":true,"kind":"');
const TRUTH_NAME = Buffer.from('"truth"');
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const LBRACE = 0x7b;
const RBRACE = 0x7d;

/** Does `data` end with `tail`, preceded by ',' or '{' (so `tail` is the last member of the top-level object)? */
function endsWithMember(data: Buffer, tail: Buffer): boolean {
  const at = data.length - tail.length;
  if (at < 1) return false;
  const before = data[at - 1];
  return (before === COMMA || before === LBRACE) && data.indexOf(tail, at) === at;
}

/** The ground truth in a parsed event's `truth` member, or undefined when it is not a valid one. */
export function truthOf(value: unknown): Truth | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const { anomaly, kind, episode } = value as { anomaly?: unknown; kind?: unknown; episode?: unknown };
  if (typeof anomaly !== 'boolean') return undefined;
  const truth: Truth = typeof kind === 'string' ? { anomaly, kind } : { anomaly };
  // An episode id that is not one (not a positive integer) is left out rather than voiding the label.
  if (typeof episode === 'number' && Number.isSafeInteger(episode) && episode >= 1) truth.episode = episode;
  return truth;
}

/**
 * The ground truth `{anomaly, kind, episode}` of an event's data (a JSON object with a member
 * `"truth":{"anomaly":<bool>,"kind":..,"episode":..}`), or undefined when it has none (or the data is not a JSON object with a
 * valid one).
 *
 * Fast path, without parsing: a normal event's truth written last, as `metricWorkload` writes it (and an anomaly's without an
 * episode). A valid JSON object that ends with such a member has exactly that truth (it is the last, so the winning, member of
 * the top-level object), so the fast path trusts the data to be valid JSON. Other layouts, and the workload's anomalies with
 * their episode (about 1% of the events), fall back to JSON.parse, only when the data mentions "truth" at all.
 */
export function parseTruth(data: Buffer): Truth | undefined {
  const len = data.length;
  if (len >= 2 && data[len - 1] === RBRACE && data[len - 2] === RBRACE) {
    if (endsWithMember(data, TAIL_NORMAL)) return { anomaly: false };
    if (data[len - 3] === QUOTE) {
      // ..."truth":{"anomaly":true,"kind":"<kind>"}}
      const from = Math.max(0, len - 3 - 64 - ANOMALY_KIND_HEAD.length);
      const head = data.indexOf(ANOMALY_KIND_HEAD, from);
      if (head > 0 && (data[head - 1] === COMMA || data[head - 1] === LBRACE)) {
        const start = head + ANOMALY_KIND_HEAD.length;
        const end = len - 3;
        let plain = end >= start;
        for (let j = start; plain && j < end; j++) if (data[j] === QUOTE || data[j] === BACKSLASH) plain = false;
        if (plain) return { anomaly: true, kind: data.toString('utf8', start, end) };
      }
    } else if (endsWithMember(data, TAIL_ANOMALY_NO_KIND)) {
      return { anomaly: true };
    }
  }
  if (data.indexOf(TRUTH_NAME) < 0) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(data.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
  return truthOf((parsed as { truth?: unknown }).truth);
}
