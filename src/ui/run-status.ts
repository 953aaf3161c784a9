import { count } from './format.js';

/** A long run's state (`bench`, `chaos run`) as its live screen shows it: plain data, kept by the command. */
export interface RunStatus {
  /** What runs: `bench`, `chaos run primary-crash`. */
  title: string;
  /** What it does now: `sending`, `waiting for the drain`, `faults applied`. */
  phase: string;
  /** Epoch ms. */
  startedAt: number;
  /** How long the run is planned to take, when known: the progress bar's whole. */
  plannedMs: number | undefined;
  /** Figures so far, in order: label and value. */
  figures: [label: string, value: string][];
  /** The gates checked so far (a chaos run). */
  gates?: { held: number; failed: number; last: string | undefined } | undefined;
}

/** The first status of a run: nothing done yet. */
export function startStatus(title: string, startedAt: number): RunStatus {
  return { title, phase: 'starting', startedAt, plannedMs: undefined, figures: [] };
}

/** Figures from counts, in order; those not known (undefined) left out. */
export function countFigures(pairs: [label: string, value: number | undefined][]): RunStatus['figures'] {
  return pairs.filter((x): x is [string, number] => x[1] !== undefined).map(([label, value]) => [label, count(value)]);
}
