/** Forked child processes of the peer benchmarks, talking to the parent over IPC. */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

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

/** Forks `file` (a sibling of this module, compiled .js) with `args`; the child's stdout/stderr go to ours. */
export function forkChild(file: string, args: string[]): Child {
  const proc = fork(fileURLToPath(new URL(file, import.meta.url)), args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const seen: ChildMessage[] = [];
  const waiters: { type: string; resolve: (m: ChildMessage) => void; reject: (e: Error) => void }[] = [];
  let failure: Error | undefined;
  const fail = (err: Error) => {
    failure ??= err;
    for (const w of waiters.splice(0)) w.reject(failure);
  };
  proc.on('message', (raw) => {
    const m = raw as ChildMessage;
    if (m.type === 'error') return fail(new Error(`${file} ${args.join(' ')}: ${m.message}`));
    const i = waiters.findIndex((w) => w.type === m.type);
    if (i >= 0) waiters.splice(i, 1)[0]!.resolve(m);
    else seen.push(m);
  });
  // 'close' comes after the IPC channel has delivered everything the child sent.
  proc.on('close', (code, signal) => fail(new Error(`${file} ${args[0] ?? ''} exited (${signal ?? code}) before the expected message`)));
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
