import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../../errors.js';

/**
 * The folder of the scenarios shipped with the CLI (`scenarios/` at the package's root), from the
 * compiled code (dist/src/chaos/scenario/) or from the sources (src/chaos/scenario/).
 */
export function scenariosDir(): string {
  for (const rel of ['../../../../scenarios/', '../../../scenarios/']) {
    const dir = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(join(dir, 'worker-crash.yaml'))) return dir;
  }
  throw new Error('cannot find the scenarios/ folder of the package');
}

/** The built-in scenarios' names, in the order `--scenario all` runs them (their files' order). */
export function builtinScenarios(): string[] {
  return readdirSync(scenariosDir())
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => f.slice(0, -'.yaml'.length))
    .sort((a, b) => ORDER.indexOf(a) - ORDER.indexOf(b) || a.localeCompare(b));
}

/** The run order of `--scenario all`: the mildest first, so a broken deployment shows early. */
const ORDER = [
  'worker-crash',
  'worker-stall',
  'replica-crash',
  'client-pause',
  'manual-failover',
  'primary-pause',
  'primary-crash',
  'rolling-restart',
  'slow-primary',
  'client-blackhole',
  'lossy-network',
  'isolated-primary',
];

/**
 * The file of a built-in scenario.
 * @throws UsageError UNKNOWN_SCENARIO listing the built-in ones.
 */
export function builtinScenarioFile(name: string): string {
  const names = builtinScenarios();
  if (!names.includes(name))
    throw new UsageError(
      'UNKNOWN_SCENARIO',
      `--scenario ${name}: no such built-in scenario (built in: ${names.join(', ')}, or all)`,
      'pick one of them, or give a scenario file: `streamctl chaos run FILE`',
    );
  return join(scenariosDir(), `${name}.yaml`);
}
