import { z } from 'zod';
import { defineCommand } from '../cli/command.js';
import { homeOption, jsonOption } from '../cli/options.js';
import { resolveHome } from '../embedded/deployment.js';
import { stopRecorded } from '../embedded/stop-recorded.js';

const options = z.object({
  keepData: z.boolean().default(false).describe('Keep the data and log files; the next `up` restarts from them'),
  ...homeOption,
  ...jsonOption,
});

export default defineCommand({
  name: 'down',
  description: 'Stop the embedded deployment started by `up` and delete its files (unless --keep-data).',
  examples: ['streamctl down', 'streamctl down --keep-data'],
  options,
  async run(opts, io) {
    const home = resolveHome(opts.home, io.cwd);
    const stopped = await stopRecorded(home, { keepData: opts.keepData });
    if (!stopped) {
      io.stdout.write(
        opts.json
          ? `${JSON.stringify({ stopped: [], home, message: 'nothing to stop' })}\n`
          : `no embedded deployment in ${home}; nothing to stop\n`,
      );
      return 0;
    }
    const result = { stopped, home, keptData: opts.keepData };
    io.stdout.write(
      opts.json
        ? `${JSON.stringify(result)}\n`
        : `stopped ${stopped.length} redis-server process(es)${stopped.length ? ` (ports ${stopped.join(', ')})` : ''}; ${opts.keepData ? `data kept in ${home}` : 'files removed'}\n`,
    );
    return 0;
  },
});
