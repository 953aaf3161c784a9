import type { CepRule } from './rules.js';

/** What goes into the CEP engine and what comes out of it: events and alerts. */

/** An input event of the CEP engine, already parsed by the caller. */
export interface CepEvent {
  /** Stable event identity, e.g. `producer:seq`: evidence in alerts, and the tie-break of equal times. */
  id: string;
  key: string;
  /** Event time, ms. */
  time: number;
  /** cpu | mem | latency | errors | ... */
  type: string;
  value: number;
  score?: number;
  anomaly?: boolean;
  z?: number;
}

/** A detection of the CEP engine. */
export interface CepAlert {
  /** `rule|key|windowStart|windowEnd`: the same detection always has the same id. */
  id: string;
  rule: string;
  kind: CepRule['kind'];
  key: string;
  windowStart: number;
  windowEnd: number;
  /** Ids of the events that make the match, oldest first (absence: the last event seen). */
  evidence: string[];
  /** Event time of the detection: the completing event's time, or an absence's deadline. */
  time: number;
}

/**
 * Checks a batch of events.
 * @throws TypeError naming the first malformed event and what is wrong with it.
 */
export function checkEvents(events: readonly CepEvent[]): void {
  events.forEach((e, i) => {
    const problem = validEvent(e);
    if (problem)
      throw new TypeError(
        `cep: event ${i}${typeof (e as CepEvent | null)?.id === 'string' ? ` (${e.id})` : ''}: ${problem}`,
      );
  });
}

/** Why a value is not a CepEvent, or undefined for a valid one. */
function validEvent(e: unknown): string | undefined {
  if (typeof e !== 'object' || e === null) return 'not an object';
  const x = e as Record<string, unknown>;
  if (typeof x.id !== 'string' || x.id === '') return 'id must be a non-empty string';
  if (typeof x.key !== 'string') return 'key must be a string';
  if (typeof x.time !== 'number' || !Number.isFinite(x.time)) return 'time must be a finite number';
  if (typeof x.type !== 'string') return 'type must be a string';
  if (typeof x.value !== 'number' || !Number.isFinite(x.value)) return 'value must be a finite number';
  for (const f of ['score', 'z'] as const) {
    if (x[f] !== undefined && (typeof x[f] !== 'number' || !Number.isFinite(x[f])))
      return `${f} must be a finite number when present`;
  }
  if (x.anomaly !== undefined && typeof x.anomaly !== 'boolean') return 'anomaly must be a boolean when present';
  return undefined;
}

/**
 * Code-unit order, for event ids (the tie-break of equal times) and names in state: the same
 * everywhere, unlike localeCompare.
 */
export function cmpStr(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
