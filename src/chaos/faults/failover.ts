import { RuntimeError } from '../../errors.js';
import { parseInfo } from '../../redis/info.js';
import type { FaultAction } from '../fault-action.js';
import type { NodeTarget } from '../fault.js';
import { settled } from '../settled.js';

/** A cluster replica's view of itself: its role now. */
async function roleOf(env: Parameters<FaultAction['check']>[0], t: NodeTarget): Promise<string | undefined> {
  const info = parseInfo(await (await env.connection()).node(t.host, t.port).info('replication'));
  return info.role;
}

/**
 * CLUSTER FAILOVER on a replica: it takes over its primary's slots, in agreement with it (no write
 * lost). Redis offers it, so it is allowed on any cluster. Nothing to revert: the roles stay
 * swapped, as after any failover; the revert waits until the cluster is ok.
 */
export const failover: FaultAction = {
  kind: 'failover',
  summary: 'CLUSTER FAILOVER on a replica: it takes over its primary (any cluster)',
  target: 'node',
  external: true,
  lasting: false,
  async apply(env, f) {
    const t = f.target as NodeTarget;
    const reply = await (await env.connection()).node(t.host, t.port).call('CLUSTER', 'FAILOVER');
    if (reply !== 'OK')
      throw new RuntimeError('FAILOVER_REFUSED', `${t.address} answered CLUSTER FAILOVER with ${String(reply)}`);
    return `CLUSTER FAILOVER on replica ${t.address}${f.params.primary ? ` of ${String(f.params.primary)}` : ''}`;
  },
  async check(env, f) {
    const role = await roleOf(env, f.target as NodeTarget);
    return role === 'master' ? `${(f.target as NodeTarget).address} is a primary now` : undefined;
  },
  async revert(env) {
    return `nothing to undo (the roles stay swapped); ${await settled(env)}`;
  },
};
