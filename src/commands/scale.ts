import { z } from 'zod';
import { defineCommand } from '../cli/command.js';
import { homeOption, jsonOption } from '../cli/options.js';
import { sendControl } from '../embedded/control-client.js';
import { CONTROL_VERSION } from '../embedded/control-protocol.js';
import { resolveHome } from '../embedded/deployment.js';

const options = z.object({
  stage: z.string().min(1).describe('The stage whose worker processes to set').meta({ valueName: 'NAME' }),
  workers: z.coerce
    .number()
    .int()
    .min(0)
    .max(64)
    .describe('How many worker processes the stage runs from now on: more start, extra ones drain and stop')
    .meta({ valueName: 'N' }),
  ...homeOption,
  ...jsonOption,
});

export default defineCommand({
  name: 'scale',
  description: 'Set how many worker processes a stage of the embedded deployment runs, through its supervisor.',
  examples: ['streamctl scale --stage enrich --workers 3', 'streamctl scale --stage detect --workers 1'],
  options,
  async run(opts, io) {
    const home = resolveHome(opts.home, io.cwd);
    const r = await sendControl(home, { v: CONTROL_VERSION, kind: 'scale', stage: opts.stage, workers: opts.workers });
    io.stdout.write(
      opts.json
        ? `${JSON.stringify(r)}\n`
        : `stage ${opts.stage}: ${opts.workers} worker process(es)` +
            `${r.started.length ? `; started ${r.started.join(', ')}` : ''}${r.stopped.length ? `; drained ${r.stopped.join(', ')}` : ''}\n`,
    );
    return 0;
  },
});
