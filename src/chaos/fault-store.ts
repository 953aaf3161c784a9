import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ActiveFault } from './fault.js';

/** The folder of active faults in a state folder: one file per fault, so that writers never race. */
function faultsDir(home: string): string {
  return join(home, 'faults');
}

/** Records a fault as active (before it is applied: a crash in between leaves it healable). */
export function recordFault(home: string, f: ActiveFault): void {
  const dir = faultsDir(home);
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, `.${f.id}.tmp`);
  writeFileSync(tmp, `${JSON.stringify(f, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, join(dir, `${f.id}.json`));
}

/** The faults recorded as active, oldest first; a record that cannot be read is skipped. */
export function activeFaults(home: string): ActiveFault[] {
  let names: string[];
  try {
    names = readdirSync(faultsDir(home)).filter((n) => n.endsWith('.json'));
  } catch {
    return [];
  }
  const out: ActiveFault[] = [];
  for (const n of names) {
    try {
      out.push(JSON.parse(readFileSync(join(faultsDir(home), n), 'utf8')) as ActiveFault);
    } catch {
      // Removed meanwhile by the process that reverted it, or written by hand: not ours to read.
    }
  }
  return out.sort((a, b) => a.appliedAt.localeCompare(b.appliedAt) || a.id.localeCompare(b.id));
}

/** Forgets a reverted fault. */
export function forgetFault(home: string, id: string): void {
  rmSync(join(faultsDir(home), `${id}.json`), { force: true });
}
