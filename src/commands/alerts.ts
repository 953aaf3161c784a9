import { z } from 'zod';
import { defineCommand } from '../cli/command.js';
import { connectionOptions, jsonOption, namespaceOption } from '../cli/options.js';
import { decodeEntry } from '../pipeline/codec.js';
import { recordedPartitions } from '../pipeline/topology.js';
import { Keys } from '../pipeline/keys.js';
import { connect } from '../cli/target.js';
import { sleep } from '../wait.js';
import { RuntimeError } from '../errors.js';

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
    .default('alerts')
    .describe('Stream of the partitions to read')
    .meta({ valueName: 'NAME' }),
  ...jsonOption,
});

type Entry = [Buffer, Buffer[]];

function line(alert: Record<string, unknown>, json: boolean): string {
  if (json) return `${JSON.stringify(alert)}\n`;
  const when = typeof alert.time === 'number' ? new Date(alert.time).toISOString() : '-';
  const evidence = Array.isArray(alert.evidence) ? alert.evidence.length : 0;
  return `${when}  ${String(alert.rule ?? '?').padEnd(18)} ${String(alert.key ?? '?').padEnd(14)} ${String(alert.kind ?? '').padEnd(9)} evidence ${evidence}\n`;
}

export default defineCommand({
  name: 'alerts',
  description:
    'Show the alerts the cep stage raised (the `alerts` stream of every partition), oldest first; --follow for new ones.',
  examples: ['streamctl alerts', 'streamctl alerts --follow --json'],
  options,
  async run(opts, io) {
    const conn = await connect(opts, io);
    try {
      const client = conn.client();
      const partitions = await recordedPartitions(client, opts.namespace);
      if (!partitions)
        throw new RuntimeError(
          'NO_NAMESPACE',
          `namespace "${opts.namespace}" does not exist`,
          'check --namespace, or start the pipeline with `streamctl up`',
        );
      const keys = new Keys(opts.namespace, partitions);
      const last: string[] = new Array(partitions).fill('-');
      let printed = 0;
      const collect = async (first: boolean) => {
        const batch: Record<string, unknown>[] = [];
        for (let k = 0; k < partitions; k++) {
          const key = keys.stream(k, opts.stream);
          const entries = first
            ? ((await client.xrevrangeBuffer(key, '+', '-', 'COUNT', opts.limit)) as Entry[]).reverse()
            : ((await client.xrangeBuffer(key, last[k] === '-' ? '-' : `(${last[k]}`, '+', 'COUNT', 1000)) as Entry[]);
          for (const [id, fields] of entries) {
            last[k] = id.toString();
            try {
              for (const e of decodeEntry(fields)) batch.push(JSON.parse(e.data.toString()) as Record<string, unknown>);
            } catch {
              // not an alert batch of ours
            }
          }
        }
        batch.sort((a, b) => Number(a.time ?? 0) - Number(b.time ?? 0));
        for (const a of batch) io.stdout.write(line(a, opts.json));
        printed += batch.length;
      };
      await collect(true);
      if (!opts.json && !opts.follow && printed === 0) io.stdout.write(`no alerts in namespace "${opts.namespace}"\n`);
      while (opts.follow && !io.signal.aborted) {
        await sleep(500, io.signal);
        if (!io.signal.aborted) await collect(false);
      }
      return 0;
    } finally {
      await conn.close();
    }
  },
});
