/**
 * `npm run bench -- tracing-instructions`: what tracing costs per event, in instructions counted by
 * valgrind's callgrind (repeatable whatever else the machine does, unlike seconds or a rate). On a
 * standalone redis-server of its own, for tracing off, at 1% and at 100% of the batches sampled:
 *
 * - the producer: `produce --count N --rate 0` under callgrind;
 * - a worker: the first stage of --pipeline (passthrough: the runtime alone, where tracing weighs
 *   the most) under callgrind, draining a backlog of N events that `produce` wrote natively with
 *   the same sampling, stopped once its consumer group has nothing undelivered or pending.
 *
 * Each is run with --events and with --startup events (2,000): the difference over the difference
 * in events is the cost per event, without the start-up (the SDK's loading is a fixed cost per
 * process). Rounds alternate the modes; medians are printed. Node runs with --single-threaded: V8's
 * helper threads (concurrent compilation and marking) make the counts vary from run to run; the
 * worker also with the heap flags `up` gives its workers.
 * Traced processes export over OTLP/HTTP to a receiver in a process of its own.
 *
 *   npm run bench -- tracing-instructions [--events 400000] [--rounds 3] [--pipeline passthrough] [--port 26500]
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cliEntry } from '../src/embedded/cli-entry.js';
import { stopNode } from '../src/embedded/redis-server.js';
import { workerNodeFlags } from '../src/embedded/worker-heap.js';
import { stageBacklog } from '../src/pipeline/backlog.js';
import { BUILTIN_PIPELINES } from '../src/pipeline/definition.js';
import { ensureTopology } from '../src/pipeline/topology.js';
import { createRedisFactory } from '../src/redis/connection.js';
import { parseRedisUrls } from '../src/redis/endpoint.js';
import { sleep, waitFor } from '../src/wait.js';
import { startSink } from './otlp-sink-process.js';
import { startStandaloneRedis } from './standalone-redis.js';
import { MODES, otlpEnv, roundModes, traceSampleArgs, type Mode } from './trace-cost.js';

/** The total of instructions valgrind reports on stderr ("I refs: 1,234"). */
function instructions(stderr: string): number {
  const m = /I\s+refs:\s+([\d,]+)/.exec(stderr);
  if (!m) throw new Error(`callgrind printed no instruction count:\n${stderr.slice(-2000)}`);
  return Number(m[1]!.replace(/,/g, ''));
}

const valgrind = ['--tool=callgrind', '--callgrind-out-file=/dev/null'];
const node = [process.execPath, '--single-threaded', cliEntry()];
/** A worker as `up` starts it: with its heap flags. */
const workerNode = [process.execPath, '--single-threaded', ...workerNodeFlags(process.env.NODE_OPTIONS), cliEntry()];

export async function benchTraceInstructions(o: {
  events: number;
  startup: number;
  rounds: number;
  pipeline: string;
  port: number;
}): Promise<void> {
  if (spawnSync('valgrind', ['--version']).status !== 0)
    throw new Error('valgrind is not installed (Debian: apt-get install valgrind)');
  const dir = mkdtempSync(join(tmpdir(), 'streamctl-trace-instr-'));
  const { node: redis, url } = await startStandaloneRedis(o.port, dir);
  const conn = await createRedisFactory().open({ endpoints: parseRedisUrls(url), source: '--redis' });
  const sink = await startSink(dir, undefined);
  const stage = BUILTIN_PIPELINES[o.pipeline]!.stages[0]!.name;
  let run = 0;
  let measured: ChildProcess | undefined;
  // Ctrl-C or a kill: the redis-server (detached) and a worker under valgrind would outlive this.
  const interrupted = (signal: NodeJS.Signals) => {
    measured?.kill('SIGKILL');
    void Promise.all([sink.stop(), stopNode(redis)]).finally(() => {
      rmSync(dir, { recursive: true, force: true });
      process.kill(process.pid, signal);
    });
  };
  process.once('SIGINT', interrupted).once('SIGTERM', interrupted);
  const env = (mode: Mode) => ({
    ...process.env,
    ...otlpEnv(mode, sink.url),
  });
  const produceArgs = (ns: string, n: number, mode: Mode) => [
    'produce',
    '--redis',
    url,
    '-n',
    ns,
    '--count',
    String(n),
    '--rate',
    '0',
    '--seed',
    '1',
    '--json',
    ...traceSampleArgs(mode),
  ];

  /** Runs a command under callgrind (the one `measured`, so a signal can stop it); its stderr and exit code. */
  const underCallgrind = (args: string[], mode: Mode) => {
    const child = (measured = spawn('valgrind', [...valgrind, ...args], {
      env: env(mode),
      stdio: ['ignore', 'ignore', 'pipe'],
    }));
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const exited = new Promise<{ code: number | null; stderr: string }>((resolve) =>
      child.once('exit', (code) => resolve({ code, stderr })),
    );
    return { child, exited };
  };

  const producer = async (mode: Mode, n: number): Promise<number> => {
    const r = await underCallgrind([...node, ...produceArgs(`p${run++}`, n, mode)], mode).exited;
    if (r.code !== 0) throw new Error(`produce under callgrind failed:\n${r.stderr.slice(-2000)}`);
    return instructions(r.stderr);
  };

  const worker = async (mode: Mode, n: number): Promise<number> => {
    const ns = `w${run++}`;
    const made = spawnSync(process.execPath, [cliEntry(), ...produceArgs(ns, n, mode)], {
      env: env(mode),
      stdio: 'ignore',
    });
    if (made.status !== 0) throw new Error(`produce of the worker's backlog failed (exit ${made.status})`);
    const topology = await ensureTopology(conn.client(), ns, BUILTIN_PIPELINES[o.pipeline]!.stages);
    const { child, exited } = underCallgrind(
      [
        ...workerNode,
        'worker',
        '--redis',
        url,
        '-n',
        ns,
        '--pipeline',
        o.pipeline,
        '--stage',
        stage,
        ...traceSampleArgs(mode),
      ],
      mode,
    );
    try {
      await waitFor(
        async () => {
          const b = await stageBacklog(conn.client(), topology, stage);
          return b.lag === 0 && b.pending === 0 ? true : undefined;
        },
        { timeoutMs: 30 * 60_000, intervalMs: 500, onTimeout: () => new Error(`the ${stage} worker did not drain`) },
      );
    } finally {
      child.kill('SIGTERM');
    }
    return instructions((await exited).stderr);
  };

  type Row = { what: 'producer' | 'worker'; mode: Mode; perEvent: number; startup: number };
  const rows: Row[] = [];
  try {
    for (let i = 0; i < o.rounds; i++) {
      for (const mode of roundModes(i)) {
        for (const what of ['producer', 'worker'] as const) {
          const measure = what === 'producer' ? (n: number) => producer(mode, n) : (n: number) => worker(mode, n);
          const small = await measure(o.startup);
          const big = await measure(o.events);
          const perEvent = (big - small) / (o.events - o.startup);
          rows.push({ what, mode, perEvent, startup: small - perEvent * o.startup });
          console.log(
            `round ${i + 1}  ${what.padEnd(8)}  tracing ${mode.padEnd(4)}  ${Math.round(perEvent)} instructions/event, start-up ${(rows.at(-1)!.startup / 1e9).toFixed(2)} G`,
          );
        }
      }
    }
  } finally {
    process.off('SIGINT', interrupted).off('SIGTERM', interrupted);
    await sink.stop();
    await conn.close();
    await stopNode(redis);
    await sleep(100);
    rmSync(dir, { recursive: true, force: true });
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  console.log('');
  for (const what of ['producer', 'worker'] as const) {
    const of = (mode: Mode, f: (r: Row) => number) =>
      median(rows.filter((r) => r.what === what && r.mode === mode).map(f));
    const off = of('off', (r) => r.perEvent);
    for (const mode of MODES)
      console.log(
        `${what === 'worker' ? `worker (${stage})` : 'producer'}  tracing ${mode.padEnd(4)}  median ${Math.round(of(mode, (r) => r.perEvent))} instructions/event (x${(of(mode, (r) => r.perEvent) / off).toFixed(3)} of off), start-up ${(of(mode, (r) => r.startup) / 1e9).toFixed(2)} G instructions`,
      );
  }
}
