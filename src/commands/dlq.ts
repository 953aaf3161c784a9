import { z } from 'zod';
import { defineCommand } from '../cli/command.js';
import { formatDuration } from '../duration.js';
import { UsageError } from '../errors.js';
import { renderTable } from '../table.js';
import type { Io } from '../cli/io.js';
import { connectionOptions, jsonOption, namespaceOption, pipelineOption } from '../cli/options.js';
import { listDlq, parseDlqRef, purgeDlq, replayDlq, type DlqListing, type DlqRecord } from '../pipeline/dlq.js';
import { loadPipeline } from '../pipeline/definition.js';
import { withScripts } from '../pipeline/scripts/scripts.js';
import { existingTopology } from '../pipeline/topology.js';
import { connect } from '../cli/target.js';

const DEFAULT_LIMIT = 50;

const options = z.object({
  ...connectionOptions,
  ...namespaceOption,
  ...pipelineOption,
  action: z
    .enum(['list', 'replay', 'purge'])
    .default('list')
    .describe('What to do: list the records, replay them into the stream they came from, or purge (delete) them'),
  stage: z.string().min(1).optional().describe('Only records of this stage').meta({ valueName: 'NAME' }),
  id: z
    .string()
    .optional()
    .describe(
      'Only these records: comma-separated references PARTITION/ENTRY-ID as listed (a bare ENTRY-ID if it ' +
        'is in one partition only)',
    )
    .meta({ valueName: 'ID' })
    .transform((text, ctx) => {
      if (text === undefined) return undefined;
      const ids = text
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      const bad = ids.find((s) => !parseDlqRef(s));
      if (ids.length === 0 || bad !== undefined) {
        ctx.addIssue({
          code: 'custom',
          message: `expected PARTITION/ENTRY-ID[,...] like 3/1712345678901-0${bad !== undefined ? `, got "${bad}"` : ''}`,
        });
        return z.NEVER;
      }
      return ids;
    }),
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(100_000)
    .optional()
    .describe(`Records to list (default ${DEFAULT_LIMIT})`)
    .meta({ valueName: 'N' }),
  yes: z.boolean().default(false).describe('Confirm a purge that is not limited by --id'),
  ...jsonOption,
});

type Options = z.output<typeof options>;

function truncate(text: string, max: number): string {
  const one = text.replace(/\s+/g, ' ');
  return one.length > max ? `${one.slice(0, max - 1)}…` : one;
}

function describeEvents(r: DlqRecord): string {
  if (r.kind === 'raw') return `raw ${truncate(r.raw ?? '', 40)}`;
  if (r.decodeError) return `undecodable batch (${r.decodeError})`;
  const first = r.sample.map((e) => `${e.producer}#${e.seq}(${e.key})`).join(' ');
  return r.events > r.sample.length ? `${first} +${r.events - r.sample.length}` : first;
}

function renderList(ns: string, l: DlqListing, now: number): string {
  if (l.total === 0) return `DLQ of "${ns}" is empty\n`;
  const rows = l.records.map((r) => [
    r.ref,
    `${formatDuration(Math.max(0, now - Date.parse(r.at)))} ago`,
    r.stage,
    String(r.deliveries),
    r.kind === 'raw' ? '-' : String(r.events),
    describeEvents(r),
    truncate(r.error, 60),
  ]);
  const stages = Object.entries(l.byStage)
    .map(([s, n]) => `${s} ${n}`)
    .join(', ');
  return [
    renderTable(['RECORD', 'AGE', 'STAGE', 'DELIVERIES', 'EVENTS', 'FIRST EVENTS (PRODUCER#SEQ(KEY))', 'ERROR'], rows),
    '',
    `${l.records.length < l.total ? `showing ${l.records.length} of ` : ''}${l.total} record(s), ${l.totalEvents} event(s) in "${ns}" (by stage: ${stages})`,
    'replay them with `streamctl dlq --action replay [--stage NAME] [--id REF,...]`',
    '',
  ].join('\n');
}

function warn(io: Io, message: string): void {
  io.stderr.write(`warning: ${message}\n`);
}

function check(opts: Options): void {
  if (opts.limit !== undefined && opts.action !== 'list') {
    throw new UsageError(
      'BAD_OPTION',
      `--limit applies to --action list, not ${opts.action}`,
      'drop --limit, or narrow the records with --stage or --id',
    );
  }
  if (opts.action === 'purge' && !opts.id && !opts.yes) {
    throw new UsageError(
      'CONFIRM_PURGE',
      `--action purge deletes ${opts.stage ? `every DLQ record of stage "${opts.stage}"` : 'every DLQ record of the namespace'} for good`,
      'add --yes to confirm, or pick records with --id REF,... (see `streamctl dlq`)',
    );
  }
}

export default defineCommand({
  name: 'dlq',
  description:
    'List, replay or purge the dead-letter records of a namespace (every partition): the events a stage ' +
    'failed on, with provenance.',
  examples: [
    'streamctl dlq list',
    'streamctl dlq list --stage enrich --limit 10 --json',
    'streamctl dlq replay --stage enrich',
    'streamctl dlq replay --id 3/1712345678901-0,5/1712345678950-0',
    'streamctl dlq purge --id 3/1712345678901-0',
    'streamctl dlq purge --yes',
  ],
  options,
  positional: 'action',
  async run(opts, io) {
    check(opts);
    // The pipeline file tells which stages run now; without one there is nothing to check against.
    const { definition, file } = loadPipeline(opts.pipeline, io.cwd);
    const known = file ? new Set(definition.stages.map((s) => s.name)) : undefined;
    if (known && opts.stage !== undefined && !known.has(opts.stage)) {
      warn(io, `--stage: no stage "${opts.stage}" in ${file}; its records (if any) are from another pipeline`);
    }
    const conn = await connect(opts, io);
    try {
      const client = withScripts(conn.client());
      // Read only: the DLQ needs the partition count, not the consumer groups ensureTopology creates.
      const topology = await existingTopology(client, opts.namespace, conn.urls.join(','));
      const filter = { stage: opts.stage, ids: opts.id };
      const base = { namespace: opts.namespace, action: opts.action, stage: opts.stage ?? null, ids: opts.id ?? null };

      if (opts.action === 'list') {
        const l = await listDlq(client, topology, { ...filter, limit: opts.limit ?? DEFAULT_LIMIT, sample: 3 });
        io.stdout.write(
          opts.json
            ? `${JSON.stringify({ ...base, total: l.total, totalEvents: l.totalEvents, shown: l.records.length, byStage: l.byStage, records: l.records }, null, 2)}\n`
            : renderList(opts.namespace, l, Date.now()),
        );
        return 0;
      }

      if (opts.action === 'replay') {
        const r = await replayDlq(client, topology, filter);
        if (known) {
          for (const s of Object.keys(r.byStage)) {
            if (!known.has(s))
              warn(io, `stage "${s}" is not in ${file}: no worker may read the events replayed to its input stream`);
          }
        }
        if (opts.json) io.stdout.write(`${JSON.stringify({ ...base, ...r }, null, 2)}\n`);
        else {
          const lines = [
            `replayed ${r.replayed} of ${r.matched} record(s) (${r.events} event(s)) in "${opts.namespace}"${
              r.replayed
                ? ` (by stage: ${Object.entries(r.byStage)
                    .map(([s, n]) => `${s} ${n}`)
                    .join(', ')})`
                : ''
            }`,
          ];
          if (r.skipped.length) {
            lines.push(
              `${r.skipped.length} record(s) left in the DLQ:`,
              renderTable(
                ['RECORD', 'STAGE', 'REASON'],
                r.skipped.map((s) => [s.ref, s.stage, s.reason]),
              ),
            );
          }
          if (r.replayed)
            lines.push('the events are back in the input stream of their stage; per-key order does not hold for them');
          io.stdout.write(`${lines.join('\n')}\n`);
        }
        return 0;
      }

      const p = await purgeDlq(client, topology, filter);
      io.stdout.write(
        opts.json
          ? `${JSON.stringify({ ...base, ...p }, null, 2)}\n`
          : `purged ${p.purged} record(s) from the DLQ of "${opts.namespace}"${
              p.purged
                ? ` (by stage: ${Object.entries(p.byStage)
                    .map(([s, n]) => `${s} ${n}`)
                    .join(', ')})`
                : ''
            }\n`,
      );
      return 0;
    } finally {
      await conn.close();
    }
  },
});
