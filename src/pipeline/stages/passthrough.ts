import type { Stage } from '../stage.js';

/** Passes every event on unchanged: for measuring the runtime itself. */
export function passthrough(): Stage {
  return {
    name: 'passthrough',
    process: (batch) => batch,
  };
}
