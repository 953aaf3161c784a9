import type { ChaosEnv } from '../chaos-env.js';
import type { FaultAction } from '../fault-action.js';
import type { ActiveFault, NodeTarget } from '../fault.js';
import { settled } from '../settled.js';
import { sleep } from '../../wait.js';

/** How long a probe write may wait before the node counts as paused. */
const PROBE_MS = 300;
/** The channel of the probe write: PUBLISH is a write for CLIENT PAUSE and touches no data. */
const PROBE_CHANNEL = 'streamctl:chaos:probe';

/** A connection of its own to the target node: the shared one may be held by a paused command. */
async function ownClient(env: ChaosEnv, t: NodeTarget, commandTimeout: number) {
  const c = (await env.connection()).node(t.host, t.port).duplicate({ commandTimeout, lazyConnect: true });
  c.on('error', () => undefined);
  await c.connect();
  return c;
}

function modeOf(f: ActiveFault): 'all' | 'write' {
  return f.params.mode === 'write' ? 'write' : 'all';
}

/**
 * CLIENT PAUSE on one node for `--for`: its clients' commands (all of them, or only writes) wait
 * until the pause ends; Redis offers it, so it is allowed on any Redis. Redis ends the pause by
 * itself when its time is up, so even a crash leaves nothing behind; the revert sends CLIENT
 * UNPAUSE, which Redis holds until then in `all` mode.
 */
export const clientPause: FaultAction = {
  kind: 'client-pause',
  summary: "CLIENT PAUSE a node's clients for --for (any Redis)",
  target: 'node',
  external: true,
  lasting: true,
  async apply(env, f) {
    const t = f.target as NodeTarget;
    const ms = Math.max(1, Math.round(f.durationMs ?? 0));
    const node = (await env.connection()).node(t.host, t.port);
    await node.call('CLIENT', 'PAUSE', String(ms), modeOf(f) === 'write' ? 'WRITE' : 'ALL');
    return `CLIENT PAUSE ${ms} ${modeOf(f).toUpperCase()} on ${t.address}`;
  },
  async check(env, f) {
    const t = f.target as NodeTarget;
    const probe = (await env.connection()).node(t.host, t.port).duplicate({ lazyConnect: true });
    probe.on('error', () => undefined);
    // In `all` mode even the new client's handshake waits; our own timer tells a wait from an answer.
    const answer = probe.connect().then(() => probe.publish(PROBE_CHANNEL, 'probe'));
    const first = await Promise.race([
      answer.then(
        () => 'answered',
        () => 'failed',
      ),
      sleep(PROBE_MS).then(() => 'waited'),
    ]);
    probe.disconnect();
    return first === 'waited' ? `a write from a new client waited more than ${PROBE_MS} ms` : undefined;
  },
  async revert(env, f) {
    const t = f.target as NodeTarget;
    const until = f.until ? Date.parse(f.until) : 0;
    const c = await ownClient(env, t, Math.max(0, until - Date.now()) + 5000);
    try {
      await c.call('CLIENT', 'UNPAUSE');
    } finally {
      c.disconnect();
    }
    return `CLIENT UNPAUSE on ${t.address}; ${await settled(env)}`;
  },
};
