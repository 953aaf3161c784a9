import { accessSync, constants, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/** The first of `candidates` that is an executable file; undefined when none is. */
export function firstExecutable(candidates: string[]): string | undefined {
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // the next one
    }
  }
  return undefined;
}

/** `name` in each folder of a PATH value, in order. */
export function onPath(name: string, envPath: string | undefined): string[] {
  return (envPath ?? '')
    .split(delimiter)
    .filter(Boolean)
    .map((d) => join(d, name));
}

/** The last `lines` lines of a process's log, for an error message that says why it did not start. */
export function logTail(file: string, lines = 5): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
