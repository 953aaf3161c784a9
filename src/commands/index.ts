import type { Command } from '../cli/command.js';
import alerts from './alerts.js';
import bench from './bench.js';
import dlq from './dlq.js';
import down from './down.js';
import health from './health.js';
import produce from './produce.js';
import reference from './reference.js';
import restart from './restart.js';
import scale from './scale.js';
import serve from './serve.js';
import train from './train.js';
import up from './up.js';
import verify from './verify.js';
import worker from './worker.js';

/** Every registered command, in the order `--help` lists them. Only commands that work are here. */
export const commands: Command[] = [
  up,
  down,
  health,
  restart,
  scale,
  worker,
  produce,
  verify,
  dlq,
  reference,
  alerts,
  train,
  serve,
  bench,
] as unknown as Command[];
