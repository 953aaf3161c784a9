import type { Command } from '../cli/command.js';

/**
 * Every command by name, in the order `--help` lists them, each module loaded only when needed.
 * Only commands that work are here. A process runs one command, and loading all of them (the
 * bench's, the ingest's and the pipeline's dependencies) took longer than `health --json` itself.
 */
const registry: Record<string, () => Promise<{ default: unknown }>> = {
  up: () => import('./up.js'),
  down: () => import('./down.js'),
  health: () => import('./health.js'),
  top: () => import('./top.js'),
  restart: () => import('./restart.js'),
  scale: () => import('./scale.js'),
  worker: () => import('./worker.js'),
  produce: () => import('./produce.js'),
  verify: () => import('./verify.js'),
  dlq: () => import('./dlq.js'),
  reference: () => import('./reference.js'),
  alerts: () => import('./alerts.js'),
  train: () => import('./train.js'),
  serve: () => import('./serve.js'),
  bench: () => import('./bench.js'),
  chaos: () => import('./chaos.js'),
};

/** Every registered command, loaded, in the order `--help` lists them. */
export async function loadCommands(): Promise<Command[]> {
  return Promise.all(Object.values(registry).map(async (load) => (await load()).default as Command));
}

/**
 * The commands the program needs to run `argv`: only the one named by the first argument, or every
 * command when it names none (`--help`, `--version`, a typo that deserves a suggestion).
 */
export async function commandsFor(argv: readonly string[]): Promise<Command[]> {
  const load = Object.hasOwn(registry, argv[0] ?? '') ? registry[argv[0]!] : undefined;
  return load ? [(await load()).default as Command] : loadCommands();
}
