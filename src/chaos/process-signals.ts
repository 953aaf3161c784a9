import { readFileSync } from 'node:fs';
import { isPidAlive } from '../pid.js';

/**
 * Sends `signal` to `pid` (0: only checks that it may): `denied` when the process belongs to another
 * user, `gone` when there is no such process.
 */
export function signalProcess(pid: number, signal: NodeJS.Signals | 0): 'sent' | 'gone' | 'denied' {
  try {
    process.kill(pid, signal);
    return 'sent';
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM' ? 'denied' : 'gone';
  }
}

/** Whether `pid` is stopped by a signal (SIGSTOP): its state in /proc is `T`. */
export function isStopped(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The state follows the command name, which may hold spaces and parentheses: after the last ')'.
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state === 'T' || state === 't';
  } catch {
    return false;
  }
}

/** Whether `pid` is gone (a zombie counts as gone: it runs nothing). */
export function isGone(pid: number): boolean {
  if (!isPidAlive(pid)) return true;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return true;
  }
}
