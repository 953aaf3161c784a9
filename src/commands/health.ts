import { z } from 'zod';
import { defineCommand } from '../cli/command.js';
import { durationSchema } from '../duration.js';
import { RuntimeError, StreamctlError } from '../errors.js';
import { collectSnapshot } from '../observe/collect-snapshot.js';
import { judgeDeadLetterGrowth } from '../observe/judge.js';
import { renderHealth } from '../health/render.js';
import type { Snapshot } from '../observe/snapshot.js';
import type { Io } from '../cli/io.js';
import { connectionOptions, jsonOption, namespaceOption } from '../cli/options.js';
import type { RedisConnection } from '../redis/connection.js';
import { connect, embeddedStatus } from '../cli/target.js';
import { sleep } from '../wait.js';

const options = z.object({
  ...connectionOptions,
  ...namespaceOption,
  ...jsonOption,
  watch: z.coerce
    .number()
    .positive()
    .optional()
    .describe('Refresh in place every SECONDS (default 2) until Ctrl-C')
    .meta({ valueName: 'SECONDS', preset: '2', short: '-w' }),
  waitHealthy: durationSchema()
    .optional()
    .describe('Wait until the status is ok, up to TIMEOUT (e.g. 30s); exit 1 on timeout')
    .meta({ valueName: 'TIMEOUT' }),
});

/** The snapshot, with the embedded deployment's supervised processes when that is the target. */
function snapshot(conn: RedisConnection, opts: z.output<typeof options>, io: Io): Promise<Snapshot> {
  return collectSnapshot(conn, opts.namespace, { deployment: embeddedStatus(opts, io) });
}

function print(report: Snapshot, io: Io, json: boolean): void {
  io.stdout.write(json ? `${JSON.stringify(report, null, 2)}\n` : renderHealth(report, io.stdout.isTTY));
}

async function waitHealthy(opts: z.output<typeof options>, io: Io, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let last: Snapshot | undefined;
  let lastError: StreamctlError | undefined;
  let conn: RedisConnection | undefined;
  try {
    while (!io.signal.aborted) {
      try {
        conn ??= await connect(opts, io);
        last = await snapshot(conn, opts, io);
        lastError = undefined;
        if (last.status === 'ok') break;
      } catch (err) {
        // Only an unreachable or not-yet-started Redis is worth waiting for; bad input is not.
        if (!(err instanceof StreamctlError) || err.exitCode === 2) throw err;
        lastError = err;
        await conn?.close();
        conn = undefined;
      }
      if (Date.now() >= deadline) break;
      await sleep(Math.min(500, deadline - Date.now()), io.signal);
    }
  } finally {
    await conn?.close();
  }
  if (last) print(last, io, opts.json);
  if (last?.status === 'ok') return 0;
  const why = lastError
    ? lastError.message
    : `status ${last?.status ?? 'unknown'}: ${(last?.problems ?? []).map((p) => p.message).join('; ')}`;
  throw new RuntimeError(
    'HEALTH_TIMEOUT',
    `not healthy after ${timeoutMs} ms (${why})`,
    'raise --wait-healthy, or look at `streamctl health` for the failing part',
  );
}

export default defineCommand({
  name: 'health',
  description:
    'Report the health of the Redis deployment (nodes, replication, cluster slots) and of the namespace ' +
    'streams and consumer groups. Exit 0 only when ok.',
  examples: [
    'streamctl health',
    'streamctl health --json',
    'streamctl health --watch 1',
    'streamctl health --redis redis://10.0.0.5:6379 --wait-healthy 30s',
  ],
  options,
  async run(opts, io) {
    if (opts.waitHealthy !== undefined) return waitHealthy(opts, io, opts.waitHealthy);
    const conn = await connect(opts, io);
    try {
      if (opts.watch === undefined) {
        const report = await snapshot(conn, opts, io);
        print(report, io, opts.json);
        return report.status === 'ok' ? 0 : 1;
      }
      let status = 'down';
      let previous: Snapshot | undefined;
      while (!io.signal.aborted) {
        const report = await snapshot(conn, opts, io);
        if (previous) judgeDeadLetterGrowth(report, previous);
        previous = report;
        status = report.status;
        // Clear and redraw on a terminal; elsewhere each refresh follows the last.
        if (io.stdout.isTTY && !opts.json) io.stdout.write('\x1b[H\x1b[2J');
        print(report, io, opts.json);
        if (!io.stdout.isTTY || opts.json) io.stdout.write('\n');
        await sleep(opts.watch * 1000, io.signal);
      }
      return status === 'ok' ? 0 : 1;
    } finally {
      await conn.close();
    }
  },
});
