import type { z } from 'zod';
import type { Io } from './io.js';

/**
 * One CLI command. Options are declared once, in a zod object schema: each key becomes a
 * `--kebab-case` flag, `.describe()` is its help text, `.default()` its default, and `.meta()` may add
 * `short` (`-n`), `valueName` (`URL`), `env` (a variable read when the flag is absent) and
 * `preset` (the value of a flag given without one, which makes the value optional).
 *
 * `run` returns the exit code; it throws a StreamctlError for anything the user must act on.
 */
export interface Command<S extends z.ZodObject = z.ZodObject> {
  name: string;
  description: string;
  /** Shown under "Examples" in `--help`. */
  examples?: string[];
  options: S;
  /** An option (an enum) that may also be given as the first argument: `streamctl dlq list`. */
  positional?: keyof z.output<S> & string;
  /** A second option that may be given as the next argument: `streamctl chaos run FILE`. */
  operand?: keyof z.output<S> & string;
  run(opts: z.output<S>, io: Io): Promise<number>;
}

/** Declares a command with its option types inferred from the schema. */
export function defineCommand<S extends z.ZodObject>(command: Command<S>): Command<S> {
  return command;
}
