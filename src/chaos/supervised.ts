import { sendControl } from '../embedded/control-client.js';
import { CONTROL_VERSION } from '../embedded/control-protocol.js';
import { RuntimeError, UsageError } from '../errors.js';
import { waitFor } from '../wait.js';
import type { ChaosEnv } from './chaos-env.js';
import type { FaultTarget } from './fault.js';

/** The supervisor's name of a target: `host:port` for a node, `stage#n` for a worker slot. */
function processName(t: FaultTarget): string {
  return t.type === 'node' ? t.address : t.name;
}

/** How long the supervisor gets to see a killed process exit. */
const EXIT_SEEN_MS = 10_000;

/**
 * Makes sure the target's process runs again, through the deployment's supervisor: it waits for the
 * supervisor's own restart, or starts the process when the supervisor gave up on it (`--restart
 * never`), never a second copy. `replaces` is the pid a fault killed: until the supervisor has seen
 * it exit it still has it as running, so the ask waits for that first.
 * @returns its pid now, and whether the heal (not the supervisor's policy) started it.
 */
export async function ensureRunning(
  env: ChaosEnv,
  t: FaultTarget,
  replaces?: number,
): Promise<{ pid: number; started: boolean }> {
  if (replaces !== undefined)
    await waitFor(async () => ((await currentPid(env, t)) !== replaces ? true : undefined), {
      timeoutMs: EXIT_SEEN_MS,
      intervalMs: 50,
      onTimeout: () =>
        new RuntimeError(
          'EXIT_NOT_SEEN',
          `the supervisor still has ${processName(t)} as pid ${replaces} ${EXIT_SEEN_MS / 1000}s after it was killed`,
          'see `streamctl health`; `streamctl up` repairs the embedded deployment',
        ),
    });
  return sendControl(env.home, { v: CONTROL_VERSION, kind: 'ensure', process: processName(t) });
}

/** Restarts the target's process through the supervisor (a primary hands its slots over first). */
export async function restartProcess(env: ChaosEnv, t: FaultTarget): Promise<void> {
  await sendControl(env.home, { v: CONTROL_VERSION, kind: 'restart', process: processName(t) });
}

/** The target's pid as the supervisor has it recorded now. */
export async function currentPid(env: ChaosEnv, t: FaultTarget): Promise<number | null> {
  const status = await sendControl(env.home, { v: CONTROL_VERSION, kind: 'status' });
  return status.processes.find((p) => p.name === processName(t))?.pid ?? null;
}

/**
 * The target's pid, for a fault that signals a process.
 * @throws UsageError NOT_OURS when streamctl does not run the process (a Redis it did not start).
 */
export function pidOf(t: FaultTarget): number {
  if (t.pid) return t.pid;
  throw new UsageError(
    'NOT_OURS',
    `${t.type === 'node' ? t.address : t.name}: streamctl does not run this process, so it cannot signal it`,
    'on a Redis streamctl did not start, use `chaos failover` or `chaos client-pause`',
  );
}
