import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { UsageError } from '../errors.js';

/** The part of an earlier bench result that `--compare` uses; everything else in the file is ignored. */
const baselineSchema = z.object({
  pipeline: z.array(z.string()),
  mode: z.string(),
  calibration: z.object({ xaddPerSecond: z.number().positive() }).nullable(),
  load: z.object({ rate: z.number() }),
  throughput: z.object({ eventsPerSecond: z.number() }),
  latency: z.array(z.object({ stream: z.string(), p50: z.number(), p99: z.number() })),
  processes: z.array(z.object({ name: z.string(), cpuPercent: z.number(), rssMb: z.number() })),
  max: z.object({ rate: z.number().nullable() }).nullish(),
});

export type BenchBaseline = z.output<typeof baselineSchema>;

const HINT = 'give --compare a file written by an earlier `streamctl bench --json FILE`';

/**
 * Reads an earlier `bench --json FILE` output for `--compare`.
 * @throws UsageError BAD_COMPARE_FILE naming the file and what is wrong with it (missing, not JSON, not a bench result).
 */
export function readBenchBaseline(path: string): BenchBaseline {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new UsageError(
      'BAD_COMPARE_FILE',
      `--compare: cannot read ${path}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`,
      HINT,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new UsageError('BAD_COMPARE_FILE', `--compare: ${path} is not JSON (${(err as Error).message})`, HINT);
  }
  if (json && typeof json === 'object' && 'error' in json) {
    throw new UsageError('BAD_COMPARE_FILE', `--compare: ${path} holds an error report, not a bench result`, HINT);
  }
  const parsed = baselineSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const where = issue.path.length ? issue.path.join('.') : 'the document';
    const why =
      issue.code === 'invalid_type' && /received undefined/.test(issue.message)
        ? `no "${where}" field`
        : `${where}: ${issue.message}`;
    throw new UsageError('BAD_COMPARE_FILE', `--compare: ${path} is not a bench result (${why})`, HINT);
  }
  return parsed.data;
}
