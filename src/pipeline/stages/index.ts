import type { StageFactory } from '../stage.js';
import { cep } from './cep/cep.js';
import { detect } from './detect.js';
import { enrich } from './enrich.js';
import { passthrough } from './passthrough.js';

/** Built-in stages by the name a pipeline file uses in `use:`. */
export const builtinStages: Record<string, StageFactory> = {
  passthrough,
  enrich,
  detect,
  cep,
};
