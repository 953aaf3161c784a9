import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RuntimeError } from '../errors.js';
import { prometheusConfig, prometheusFolder, RULES_FILE } from '../observe/prometheus-config.js';
import { waitFor } from '../wait.js';
import { firstExecutable, logTail, onPath } from './executables.js';
import { isPidAlive } from '../pid.js';

/** How long Prometheus gets to say it is ready (it replays its write-ahead log first). */
const READY_MS = 30_000;
/** How long Prometheus gets to stop on SIGTERM before SIGKILL. */
const STOP_MS = 10_000;

const INSTALL_HINT =
  'install it (Debian/Ubuntu: `apt-get install prometheus`; elsewhere: https://prometheus.io/download/), ' +
  'or drop --prometheus and point a Prometheus of yours at the deployment (see `streamctl up --help`)';

/**
 * The `prometheus` binary on PATH.
 * @throws RuntimeError PROMETHEUS_MISSING with the install command.
 */
export function findPrometheus(envPath: string | undefined): string {
  const found = firstExecutable(onPath('prometheus', envPath));
  if (found) return found;
  throw new RuntimeError(
    'PROMETHEUS_MISSING',
    '--prometheus: the prometheus binary was not found on PATH',
    INSTALL_HINT,
  );
}

/** A Prometheus started for the embedded deployment. */
export interface PrometheusProcess {
  pid: number;
  /** Its web UI and API, `http://127.0.0.1:PORT`. */
  url: string;
  /** The configuration it runs, in the state folder. */
  config: string;
  stop(): Promise<void>;
}

/** The folder of the deployment's Prometheus: its configuration, data and log. */
export function prometheusHome(home: string): string {
  return join(home, 'prometheus');
}

/**
 * Starts `prometheus` on 127.0.0.1:`port` with a configuration that scrapes the deployment's
 * metrics endpoint (`deployment`, host:port) and its workers, and the rules shipped with
 * streamctl; its data in `<home>/prometheus/`. Resolves once it is ready.
 * @throws RuntimeError PROMETHEUS_START_FAILED with its log's last lines.
 */
export async function startPrometheus(o: {
  bin: string;
  home: string;
  port: number;
  deployment: string;
}): Promise<PrometheusProcess> {
  const dir = prometheusHome(o.home);
  mkdirSync(join(dir, 'data'), { recursive: true });
  const config = join(dir, 'prometheus.yml');
  writeFileSync(
    config,
    prometheusConfig({ deployment: o.deployment, ruleFiles: [join(prometheusFolder(), RULES_FILE)] }),
  );
  const log = join(dir, 'prometheus.log');
  const fd = openSync(log, 'a');
  const child: ChildProcess = spawn(
    o.bin,
    [
      `--config.file=${config}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${o.port}`,
      '--web.enable-lifecycle',
    ],
    { stdio: ['ignore', fd, fd], detached: true },
  );
  closeSync(fd);
  let exited: string | undefined;
  child.once('exit', (code, signal) => (exited = signal ? `signal ${signal}` : `exit code ${code}`));
  child.once('error', (err) => (exited = err.message));
  const url = `http://127.0.0.1:${o.port}`;
  const stop = async () => {
    if (exited || !child.pid) return;
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_MS);
    await gone;
    clearTimeout(timer);
  };
  const failed = (why: string) =>
    new RuntimeError(
      'PROMETHEUS_START_FAILED',
      `${why}; log ${log}:\n${logTail(log, 8)}`,
      'another process may hold the port: pick another with --prometheus-port',
    );
  const state = await waitFor(
    async () => (exited ? 'exited' : (await fetch(`${url}/-/ready`).catch(() => undefined))?.ok ? 'ready' : undefined),
    {
      timeoutMs: READY_MS,
      intervalMs: 200,
      onTimeout: () => {
        child.kill('SIGKILL');
        return failed(`prometheus was not ready on ${url} within ${READY_MS / 1000}s`);
      },
    },
  );
  if (state === 'exited') throw failed(`prometheus exited (${exited})`);
  return { pid: child.pid!, url, config, stop };
}

/** Stops a Prometheus recorded by a supervisor that is gone (`down` after a crash). */
export async function stopRecordedPrometheus(pid: number): Promise<void> {
  if (!isPidAlive(pid)) return;
  process.kill(pid, 'SIGTERM');
  await waitFor(async () => (isPidAlive(pid) ? undefined : true), {
    timeoutMs: STOP_MS,
    onTimeout: () => new Error('prometheus did not stop'),
  }).catch(() => process.kill(pid, 'SIGKILL'));
}
