import { z } from 'zod';
import { defineCommand } from '../cli/command.js';
import { homeOption, jsonOption } from '../cli/options.js';
import { sendControl } from '../embedded/control-client.js';
import { CONTROL_VERSION } from '../embedded/control-protocol.js';
import { resolveHome } from '../embedded/deployment.js';

const options = z.object({
  process: z
    .string()
    .min(1)
    .describe(
      'The process to restart: a node as host:port or port, a worker as stage#n or pid (see `streamctl health`)',
    )
    .meta({ valueName: 'NAME' }),
  ...homeOption,
  ...jsonOption,
});

export default defineCommand({
  name: 'restart',
  description:
    'Restart one process of the embedded deployment through its supervisor: a redis-server (a cluster ' +
    'primary first hands its slots to its replica, so no write is lost) or a stage worker (it drains first).',
  examples: ['streamctl restart 127.0.0.1:7001', 'streamctl restart 7001', 'streamctl restart enrich#1'],
  options,
  positional: 'process',
  async run(opts, io) {
    const home = resolveHome(opts.home, io.cwd);
    const r = await sendControl(home, { v: CONTROL_VERSION, kind: 'restart', process: opts.process });
    io.stdout.write(opts.json ? `${JSON.stringify(r)}\n` : `restarted ${r.started.join(', ')}\n`);
    return 0;
  },
});
