import { z } from 'zod';
import { defineCommand } from '../cli/command.js';
import { UsageError } from '../errors.js';
import { connectionOptions, jsonOption, namespaceOption } from '../cli/options.js';
import { readReferenceFile, writeReference } from '../workload/reference.js';
import { connect } from '../cli/target.js';
import { namespaceKeys } from '../pipeline/keys.js';
import { ENRICH_DEFAULTS } from '../pipeline/stages/enrich.js';

const options = z.object({
  ...connectionOptions,
  ...namespaceOption,
  action: z
    .enum(['load', 'show'])
    .default('show')
    .describe('load FILE into the reference hash, or show its size and a sample'),
  file: z
    .string()
    .optional()
    .describe('NDJSON ({"key": ..., "region": ...} per line) or one JSON object keyed by key')
    .meta({ valueName: 'FILE' }),
  hash: z
    .string()
    .regex(/^[A-Za-z0-9_.:-]+$/)
    .default(ENRICH_DEFAULTS.reference)
    .describe('Hash name in the namespace that enrich reads')
    .meta({ valueName: 'NAME' }),
  ...jsonOption,
});

export default defineCommand({
  name: 'reference',
  description:
    'Load or show the reference data (key -> region, service, owner, tier) that the enrich stage attaches to events.',
  examples: ['streamctl reference load --file hosts.ndjson', 'streamctl reference show --json'],
  options,
  positional: 'action',
  async run(opts, io) {
    const conn = await connect(opts, io);
    try {
      const key = namespaceKeys.lookupHash(opts.namespace, opts.hash);
      const client = conn.client();
      if (opts.action === 'load') {
        if (!opts.file) {
          throw new UsageError('MISSING_FILE', 'reference load needs --file FILE', 'give the file with --file');
        }
        const records = readReferenceFile(opts.file);
        const n = await writeReference(client, key, records);
        io.stdout.write(
          opts.json ? `${JSON.stringify({ hash: key, loaded: n })}\n` : `loaded ${n} reference record(s) into ${key}\n`,
        );
        return 0;
      }
      const size = await client.hlen(key);
      const [, sample] = await client.hscan(key, '0', 'COUNT', 5);
      const rows = Object.fromEntries(
        Array.from({ length: sample.length / 2 }, (_, i) => [sample[2 * i]!, JSON.parse(sample[2 * i + 1]!)]),
      );
      io.stdout.write(
        opts.json
          ? `${JSON.stringify({ hash: key, size, sample: rows }, null, 2)}\n`
          : `${key}: ${size} record(s)\n${Object.entries(rows)
              .map(([k, v]) => `  ${k}  ${JSON.stringify(v)}`)
              .join('\n')}\n`,
      );
      return 0;
    } finally {
      await conn.close();
    }
  },
});
