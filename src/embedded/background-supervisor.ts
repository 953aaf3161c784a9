import { spawn } from 'node:child_process';
import { mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { RuntimeError, StreamctlError, toStreamctlError } from '../errors.js';
import type { NodeProxyFactory } from './node-proxy.js';
import type { RedisFactory } from '../redis/connection.js';
import { cliEntry } from './cli-entry.js';
import type { Deployment } from './deployment.js';
import { Supervisor, type SupervisorOptions } from './supervisor.js';

/** What `up --detach` hands its background supervisor: the supervisor's options that are data. */
export type BackgroundSpec = Omit<SupervisorOptions, 'redis' | 'progress' | 'workerOutput' | 'proxyFactory'>;

/** The messages between `up --detach` and its background supervisor, on their IPC channel. */
type ToSupervisor = { type: 'start'; spec: BackgroundSpec };
type FromSupervisor =
  | { type: 'progress'; line: string }
  | { type: 'ready'; deployment: Deployment; resumed: boolean }
  | { type: 'failed'; error: ReturnType<StreamctlError['toJSON']> };

/** How long `up` waits for a background supervisor that reported a failure to exit. */
const FAILED_EXIT_MS = 10_000;

/** Where the background supervisor's own output goes. */
export function supervisorLog(home: string): string {
  return join(home, 'supervisor.log');
}

/**
 * `up --detach`: starts the supervisor in a background process, relays its progress, and resolves
 * once the deployment and its workers are up; the supervisor then runs on after this process exits.
 * @throws its error (with its code and exit code) when the start fails; it has then stopped everything.
 */
export function startInBackground(
  spec: BackgroundSpec,
  progress: (line: string) => void,
  signal: AbortSignal,
): Promise<{ deployment: Deployment; resumed: boolean; pid: number }> {
  mkdirSync(spec.home, { recursive: true });
  const log = openSync(supervisorLog(spec.home), 'a');
  const child = spawn(process.execPath, [cliEntry('streamctl-supervisor')], {
    detached: true,
    // In the state folder: what runs there belongs to the deployment (and its workers start there too).
    cwd: spec.home,
    stdio: ['ignore', log, log, 'ipc'],
    env: spec.env as NodeJS.ProcessEnv,
  });
  let failure: StreamctlError | undefined;
  return new Promise((resolve, reject) => {
    // Interrupted (Ctrl-C): the supervisor stops what it started, and `up` waits for that.
    const interrupted = () => {
      progress('interrupted: stopping what was started...');
      child.kill('SIGTERM');
    };
    signal.addEventListener('abort', interrupted, { once: true });
    child.on('message', (m: FromSupervisor) => {
      if (signal.aborted) return;
      if (m.type === 'progress') progress(m.line);
      else if (m.type === 'ready') {
        signal.removeEventListener('abort', interrupted);
        child.disconnect();
        child.unref();
        resolve({ deployment: m.deployment, resumed: m.resumed, pid: child.pid! });
      } else {
        const { code, message, hint, exitCode } = m.error;
        // It stopped what it started; `up` returns once its process is gone too (bounded).
        failure = new StreamctlError(code, message, { exitCode, ...(hint ? { hint } : {}) });
        setTimeout(() => reject(failure), FAILED_EXIT_MS).unref();
      }
    });
    child.once('exit', (code, sig) => {
      if (failure) return reject(failure);
      reject(
        signal.aborted
          ? new RuntimeError(
              'INTERRUPTED',
              'interrupted while the deployment started; everything it started is stopped',
            )
          : new RuntimeError(
              'SUPERVISOR_FAILED',
              `the background supervisor exited (${sig ?? `code ${code}`}) before the deployment was up`,
              `see ${supervisorLog(spec.home)}`,
            ),
      );
    });
    child.send({ type: 'start', spec } satisfies ToSupervisor);
  });
}

/**
 * The background supervisor's side (bin/streamctl-supervisor.ts): waits for its spec, starts the
 * supervisor, reports ready or the error, and resolves with the supervisor once it is up.
 * @throws after reporting the error to `up`.
 */
export function serveInBackground(redis: RedisFactory, proxyFactory?: NodeProxyFactory): Promise<Supervisor> {
  const send = (m: FromSupervisor) => process.send?.(m);
  return new Promise((resolve, reject) => {
    process.once('message', (m: ToSupervisor) => {
      let relay = true;
      Supervisor.start({
        ...m.spec,
        redis,
        ...(proxyFactory ? { proxyFactory } : {}),
        progress: (line) => {
          if (relay && process.connected) send({ type: 'progress', line });
          process.stderr.write(`${new Date().toISOString()} ${line}\n`);
        },
      }).then(
        (sup) => {
          send({ type: 'ready', deployment: sup.deployment, resumed: sup.resumed });
          relay = false;
          resolve(sup);
        },
        (err) => {
          send({ type: 'failed', error: toStreamctlError(err).toJSON() });
          reject(err);
        },
      );
    });
  });
}
