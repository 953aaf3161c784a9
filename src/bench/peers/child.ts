/** Forked child processes of the peer benchmarks, talking to the parent over IPC. */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ConnectionSpec } from '../../redis/connection.js';
import type { PeerWorkload } from './peer.js';

export interface ChildMessage {
  type: 'ready' | 'start' | 'done' | 'error';
  at?: number;
  message?: string;
}

export interface Child {
  proc: ChildProcess;
  /** Resolves with the first message of this type; rejects if the child reports an error or exits first. */
  next(type: ChildMessage['type']): Promise<ChildMessage>;
  kill(): Promise<void>;
}

/**
 * The environment variable that hands a child the Redis connection spec (JSON). Not argv: argv is
 * readable by every user of the machine (`ps`), and the spec may hold a password.
 */
const CONNECTION_ENV = 'STREAMCTL_PEER_CONNECTION';

/** In a child: the connection spec its parent gave it. */
export function childConnectionSpec(): ConnectionSpec {
  const text = process.env[CONNECTION_ENV];
  if (!text) throw new Error(`${CONNECTION_ENV} is not set: peer children are started by run-peers.ts`);
  return JSON.parse(text) as ConnectionSpec;
}

/** Resolves once the message is handed to the IPC channel, so that exiting right after cannot lose it. */
export function sendToParent(msg: Record<string, unknown>): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send) return resolve();
    process.send(msg, undefined, undefined, () => resolve());
  });
}

/** The peers a child process runs: `bin/streamctl-peer.ts PEER ROLE ...`. */
export type PeerKind = 'naive' | 'bullmq';

/** The compiled entry of peer child processes (bin/ is compiled beside src/ in dist/). */
const PEER_ENTRY = new URL('../../../bin/streamctl-peer.js', import.meta.url);

/**
 * Forks a child process of `peer` with `args`, connecting to Redis with `spec`.
 * The child's stdout goes to our stderr: our stdout may be carrying `streamctl bench --json -`.
 */
export function forkChild(peer: PeerKind, args: string[], spec: ConnectionSpec): Child {
  const proc = fork(fileURLToPath(PEER_ENTRY), [peer, ...args], {
    stdio: ['ignore', 2, 'inherit', 'ipc'],
    env: { ...process.env, [CONNECTION_ENV]: JSON.stringify(spec) },
  });
  const seen: ChildMessage[] = [];
  const waiters: { type: string; resolve: (m: ChildMessage) => void; reject: (e: Error) => void }[] = [];
  let failure: Error | undefined;
  const fail = (err: Error) => {
    failure ??= err;
    for (const w of waiters.splice(0)) w.reject(failure);
  };
  proc.on('message', (raw) => {
    const m = raw as ChildMessage;
    if (m.type === 'error') return fail(new Error(`${peer} ${args.join(' ')}: ${m.message}`));
    const i = waiters.findIndex((w) => w.type === m.type);
    if (i >= 0) waiters.splice(i, 1)[0]!.resolve(m);
    else seen.push(m);
  });
  // 'close' comes after the IPC channel has delivered everything the child sent.
  proc.on('close', (code, signal) =>
    fail(new Error(`${peer} ${args[0] ?? ''} exited (${signal ?? code}) before the expected message`)),
  );
  proc.on('error', (err) => fail(err));
  const exited = new Promise<void>((resolve) => proc.once('close', () => resolve()));
  return {
    proc,
    next(type) {
      const i = seen.findIndex((m) => m.type === type);
      if (i >= 0) return Promise.resolve(seen.splice(i, 1)[0]!);
      if (failure) return Promise.reject(failure);
      return new Promise((resolve, reject) => waiters.push({ type, resolve, reject }));
    },
    async kill() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** `p`, or a rejection as soon as `signal` aborts (Ctrl-C), so that the caller's cleanup runs at once. */
export function abortable<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return p;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new Error('interrupted'));
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** argv form of a workload, parsed back by `workloadFromArgs`. */
export function workloadArgs(w: PeerWorkload): string[] {
  return [String(w.events), String(w.keys), String(w.seed), String(w.anomalyRate)];
}

export function workloadFromArgs(args: string[]): PeerWorkload {
  const [events, keys, seed, anomalyRate] = args.map(Number);
  return { events: events!, keys: keys!, seed: seed!, anomalyRate: anomalyRate! };
}
