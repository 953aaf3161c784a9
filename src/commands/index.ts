import type { Command } from '../command.js';
import down from './down.js';
import health from './health.js';
import up from './up.js';

/** Every registered command, in the order `--help` lists them. Only commands that work are here. */
export const commands: Command[] = [up, down, health] as unknown as Command[];
