import { z } from 'zod';
import { defineCommand } from '../cli/command.js';
import { jsonOption } from '../cli/options.js';
import { liveNodes, readDeployment, resolveHome, stopDeployment } from '../embedded/deployment.js';
import { waitFor } from '../wait.js';
import { stopWorkerProcesses } from '../embedded/supervisor.js';
import { isPidAlive } from '../embedded/pid.js';

const options = z.object({
  keepData: z.boolean().default(false).describe('Keep the data and log files; the next `up` restarts from them'),
  home: z
    .string()
    .default('.streamctl')
    .describe('State folder of the deployment')
    .meta({ valueName: 'DIR', env: 'STREAMCTL_HOME' }),
  ...jsonOption,
});

export default defineCommand({
  name: 'down',
  description: 'Stop the embedded deployment started by `up` and delete its files (unless --keep-data).',
  examples: ['streamctl down', 'streamctl down --keep-data'],
  options,
  async run(opts, io) {
    const home = resolveHome(opts.home, io.cwd);
    const d = readDeployment(home);
    if (!d) {
      io.stdout.write(
        opts.json
          ? `${JSON.stringify({ stopped: [], home, message: 'nothing to stop' })}\n`
          : `no embedded deployment in ${home}; nothing to stop\n`,
      );
      return 0;
    }
    // A foreground `up` owns its processes: ask it to stop them, so that it exits too.
    if (d.supervisorPid && d.supervisorPid !== process.pid && isPidAlive(d.supervisorPid)) {
      process.kill(d.supervisorPid, 'SIGTERM');
      await waitFor(async () => (isPidAlive(d.supervisorPid!) ? undefined : true), {
        timeoutMs: 15_000,
        onTimeout: () => new Error('supervisor did not exit'),
      }).catch(() => undefined);
    }
    if (d.workers?.length) await stopWorkerProcesses(d.workers, 15_000);
    const before = liveNodes(d).map((n) => n.port);
    const current = readDeployment(home);
    if (current) await stopDeployment(home, current, { keepData: opts.keepData });
    const result = { stopped: before, home, keptData: opts.keepData };
    io.stdout.write(
      opts.json
        ? `${JSON.stringify(result)}\n`
        : `stopped ${before.length} redis-server process(es)${before.length ? ` (ports ${before.join(', ')})` : ''}; ${opts.keepData ? `data kept in ${home}` : 'files removed'}\n`,
    );
    return 0;
  },
});
