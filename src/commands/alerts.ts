import { z } from 'zod';
import { defineCommand } from '../cli/command.js';
import { connectionOptions, jsonOption, namespaceOption } from '../cli/options.js';
import { EmittedReader } from '../pipeline/emitted-reader.js';
import { existingTopology } from '../pipeline/topology.js';
import { connect } from '../cli/target.js';
import { sleep } from '../wait.js';
import { ALERTS } from '../pipeline/stages/cep/cep.js';

const options = z.object({
  ...connectionOptions,
  ...namespaceOption,
  follow: z.boolean().default(false).describe('Keep printing new alerts until Ctrl-C').meta({ short: '-f' }),
  limit: z.coerce
    .number()
    .int()
    .positive()
    .default(100)
    .describe('Most recent alerts to print first (per partition)')
    .meta({ valueName: 'N' }),
  stream: z
    .string()
    .regex(/^[a-z][a-z0-9_-]*$/)
    .default(ALERTS)
    .describe('Stream of the partitions to read')
    .meta({ valueName: 'NAME' }),
  ...jsonOption,
});

/** How often --follow looks for new alerts. */
const FOLLOW_EVERY_MS = 500;

function line(alert: Record<string, unknown>, json: boolean): string {
  if (json) return `${JSON.stringify(alert)}\n`;
  const when = typeof alert.time === 'number' ? new Date(alert.time).toISOString() : '-';
  const evidence = Array.isArray(alert.evidence) ? alert.evidence.length : 0;
  return `${when}  ${String(alert.rule ?? '?').padEnd(18)} ${String(alert.key ?? '?').padEnd(14)} ${String(alert.kind ?? '').padEnd(9)} evidence ${evidence}\n`;
}

export default defineCommand({
  name: 'alerts',
  description:
    'Show the alerts the cep stage raised (the `alerts` stream of every partition), oldest first; ' +
    '--follow for new ones.',
  examples: ['streamctl alerts', 'streamctl alerts --follow --json'],
  options,
  async run(opts, io) {
    const conn = await connect(opts, io);
    try {
      const client = conn.client();
      const { keys } = await existingTopology(client, opts.namespace, conn.urls.join(','));
      const reader = new EmittedReader(client, keys, opts.stream);
      const print = (alerts: Record<string, unknown>[]) => {
        for (const a of alerts) io.stdout.write(line(a, opts.json));
        return alerts.length;
      };
      const printed = print(await reader.newest(opts.limit));
      if (!opts.json && !opts.follow && printed === 0) io.stdout.write(`no alerts in namespace "${opts.namespace}"\n`);
      while (opts.follow && !io.signal.aborted) {
        await sleep(FOLLOW_EVERY_MS, io.signal);
        if (!io.signal.aborted) print(await reader.next());
      }
      return 0;
    } finally {
      await conn.close();
    }
  },
});
