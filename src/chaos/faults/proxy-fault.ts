import { sendControl } from '../../embedded/control-client.js';
import { CONTROL_VERSION } from '../../embedded/control-protocol.js';
import { readDeployment } from '../../embedded/deployment.js';
import { UsageError } from '../../errors.js';
import type { ChaosEnv } from '../chaos-env.js';
import type { FaultAction } from '../fault-action.js';
import type { ActiveFault, FaultKind, NodeTarget } from '../fault.js';
import { settled } from '../settled.js';
import { pingProbe } from './ping-probe.js';

/** The fault proxy in front of a node, as the deployment records it. */
function proxyPortOf(env: ChaosEnv, t: NodeTarget): number {
  const port = readDeployment(env.home)?.nodes.find((n) => n.port === t.port)?.proxyPort;
  if (!port)
    throw new UsageError(
      'NO_FAULT_PROXY',
      `${t.address} has no fault proxy in front of it: network faults need the deployment's proxies`,
      'start the deployment with `streamctl up --fault-proxy` (see `streamctl chaos doctor`)',
    );
  return port;
}

interface ToxicCounters {
  bytes: number;
  resets: number;
}

/**
 * A network fault: a toxic on the fault proxy in front of one node, named after the fault. It is
 * seen once a probe (a PING through that proxy) shows in the toxic's counters: the toxic acted on
 * real bytes, or reset a real connection.
 */
export function proxyFault(o: {
  kind: FaultKind;
  summary: string;
  toxic: (f: ActiveFault) => Record<string, unknown>;
}): FaultAction {
  return {
    kind: o.kind,
    summary: o.summary,
    target: 'node',
    external: false,
    lasting: true,
    async apply(env, f) {
      const t = f.target as NodeTarget;
      proxyPortOf(env, t);
      const toxic: Record<string, unknown> = { name: f.id, ...o.toxic(f) };
      await sendControl(env.home, { v: CONTROL_VERSION, kind: 'toxic', node: t.address, add: toxic });
      return `${String(toxic.type)} on the proxy of ${t.address}: ${JSON.stringify(o.toxic(f))}`;
    },
    async check(env, f) {
      const t = f.target as NodeTarget;
      await pingProbe('127.0.0.1', proxyPortOf(env, t));
      const r = await sendControl(env.home, { v: CONTROL_VERSION, kind: 'toxic', node: t.address });
      const c = (r.stats as { toxics: Record<string, ToxicCounters> }).toxics[f.id];
      if (!c || c.bytes + c.resets === 0) return undefined;
      return c.resets ? `it reset ${c.resets} connection(s)` : `it acted on ${c.bytes} bytes`;
    },
    async revert(env, f) {
      const t = f.target as NodeTarget;
      await sendControl(env.home, { v: CONTROL_VERSION, kind: 'toxic', node: t.address, remove: f.id });
      return `removed from the proxy of ${t.address}; ${await settled(env)}`;
    },
  };
}

const direction = (f: ActiveFault) => (typeof f.params.direction === 'string' ? f.params.direction : 'both');

/** Latency (and jitter) on every byte to and from a node: a slow network. */
export const latency = proxyFault({
  kind: 'latency',
  summary: "add latency (--ms, --jitter) to a node's traffic through its fault proxy",
  toxic: (f) => ({ type: 'latency', direction: direction(f), ms: f.params.ms ?? 50, jitterMs: f.params.jitter ?? 0 }),
});

/** A bandwidth cap on a node's traffic. */
export const bandwidth = proxyFault({
  kind: 'bandwidth',
  summary: "cap a node's traffic to --kbps kilobytes per second through its fault proxy",
  toxic: (f) => ({ type: 'bandwidth', direction: direction(f), kbps: f.params.kbps ?? 100 }),
});

/** The node's clients are cut off: bytes are accepted and dropped, nothing answers. */
export const blackhole = proxyFault({
  kind: 'blackhole',
  summary: "cut a node's clients off (their bytes vanish, nothing answers) through its fault proxy",
  toxic: (f) => ({ type: 'blackhole', direction: direction(f) }),
});

/** Every connection to the node, open or new, is reset. */
export const reset = proxyFault({
  kind: 'reset',
  summary: 'reset every client connection to a node, open or new, through its fault proxy',
  toxic: () => ({ type: 'reset_peer' }),
});

/** The faults that act through the deployment's fault proxies. */
export const NETWORK_FAULTS: readonly FaultKind[] = [latency, bandwidth, blackhole, reset].map((a) => a.kind);
