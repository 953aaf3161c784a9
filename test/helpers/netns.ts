import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { CLI, finished, type CliResult } from './cli.js';

/**
 * A private network namespace for the tests that change the kernel's packet filter: its own
 * loopback and its own nftables ruleset, so that nothing they do reaches the host's, and all of it
 * goes when the namespace does. A process holds it (`unshare -n`); commands enter it with nsenter.
 */
export interface PrivateNetns {
  /** The pid of the process that holds the namespace. */
  pid: number;
  /** Starts `cmd args` inside the namespace (nsenter execs it: the child's pid is the command's). */
  spawn(cmd: string, args: string[]): ChildProcess;
  /** Runs `cmd args` inside the namespace and collects its output. */
  run(cmd: string, args: string[]): Promise<CliResult>;
  /** Runs `streamctl args` inside the namespace. */
  cli(args: string[]): Promise<CliResult>;
  spawnCli(args: string[]): ChildProcess;
  /** Ends the namespace's holder. */
  close(): Promise<void>;
}

export async function privateNetns(): Promise<PrivateNetns> {
  const holder = spawn('unshare', ['-n', '--', 'sh', '-c', 'ip link set lo up && echo ready && exec sleep 100000'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    holder.once('error', reject);
    holder.once('exit', (code) => reject(new Error(`unshare -n exited with ${code}`)));
    createInterface({ input: holder.stdout! }).once('line', () => resolve());
  });
  const pid = holder.pid!;
  const enter = (cmd: string, args: string[]) =>
    spawn('nsenter', [`--net=/proc/${pid}/ns/net`, '--', cmd, ...args], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  return {
    pid,
    spawn: enter,
    run: (cmd, args) => finished(enter(cmd, args)),
    cli: (args) => finished(enter(process.execPath, [CLI, ...args])),
    spawnCli: (args) => enter(process.execPath, [CLI, ...args]),
    async close() {
      if (holder.exitCode !== null) return;
      const gone = new Promise((r) => holder.once('exit', r));
      holder.kill('SIGKILL');
      await gone;
    },
  };
}
