import { RuntimeError } from '../errors.js';
import { probeNodes } from '../observe/probe-nodes.js';
import { waitFor } from '../wait.js';
import type { ChaosEnv } from './chaos-env.js';

/** How long a healed deployment may take to agree again: a failover and a restarted node's sync. */
export const SETTLE_MS = 45_000;

/**
 * Waits until every node answers and, on a cluster, the cluster says `ok` with no node flagged
 * failing: the state `health` calls ok, reached after a fault is reverted.
 * @returns what it saw, in words.
 * @throws RuntimeError NOT_SETTLED naming what is still wrong.
 */
export async function settled(env: ChaosEnv, timeoutMs = SETTLE_MS): Promise<string> {
  let last = 'no answer yet';
  return waitFor(
    async () => {
      const view = await probeNodes(await env.connection(), env.namespace);
      const down = view.nodes.filter((n) => !n.up).map((n) => n.address);
      const failing = view.failing.map((f) => f.address);
      const state = view.cluster?.state;
      last = [
        down.length ? `down: ${down.join(', ')}` : '',
        failing.length ? `flagged failing: ${failing.join(', ')}` : '',
        state && state !== 'ok' ? `cluster_state ${state}` : '',
      ]
        .filter(Boolean)
        .join('; ');
      if (last) return undefined;
      const primaries = view.nodes.filter((n) => n.role === 'primary').length;
      return `${view.nodes.length} nodes up${state ? `, cluster ok, ${primaries} primaries` : ''}`;
    },
    {
      timeoutMs,
      intervalMs: 250,
      // Not the command's signal: a revert after Ctrl-C must still see the deployment settle.
      onTimeout: () =>
        new RuntimeError(
          'NOT_SETTLED',
          `the deployment did not settle within ${timeoutMs / 1000}s after the fault: ${last}`,
          'see `streamctl health`; `streamctl chaos heal` tries again',
        ),
    },
  );
}
