import type { StageFactory } from '../stage.js';
import { passthrough } from './passthrough.js';

/** Built-in stages by the name a pipeline file uses in `use:`. */
export const builtinStages: Record<string, StageFactory> = {
  passthrough,
};
