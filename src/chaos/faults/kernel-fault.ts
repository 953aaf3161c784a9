import { nftCgroup, workerCgroup } from '../../embedded/cgroups.js';
import { UsageError } from '../../errors.js';
import type { ChaosEnv } from '../chaos-env.js';
import type { FaultAction } from '../fault-action.js';
import type { ActiveFault, FaultKind, NodeTarget } from '../fault.js';
import {
  createTable,
  removeTable,
  requireNft,
  socketIn,
  tableCounters,
  tableName,
  type NftChain,
} from '../kernel/nft.js';
import { settled } from '../settled.js';
import { pingProbe } from './ping-probe.js';

/** The comment of the rules whose counters show a fault acting. */
const ACTED = 'fault';
/** The comment of the rules that count all the traffic a loss fault could act on. */
const SEEN = 'seen';

/** The workers a kernel fault is scoped to (`--stage`), by slot name; every client when empty. */
function scopedWorkers(f: ActiveFault): string[] {
  return Array.isArray(f.params.workers) ? (f.params.workers as string[]) : [];
}

/**
 * The rules of a fault on a node's client port: `rules(match)` gives the fault's rules for the
 * traffic `match` selects. Traffic between the deployment's own nodes (a replica's replication
 * link) is left alone when the nodes run in cgroups: this is a fault between the node and its
 * clients. Scoped to workers, only their sockets' traffic matches, in both directions: their
 * packets on the way out, the node's packets to them on the way in.
 */
export function clientPortChains(
  env: ChaosEnv,
  port: number,
  workers: string[],
  rules: (match: string) => string[],
): NftChain[] {
  const cg = env.deployment?.cgroups;
  const out: string[] = [];
  const inn: string[] = [];
  if (workers.length) {
    if (!cg)
      throw new UsageError(
        'NO_CGROUPS',
        "this deployment's processes do not run in cgroups of their own: a fault cannot single out a worker's traffic",
        'drop --stage to act on every client, or restart the deployment as root (`streamctl down`, `streamctl up`)',
      );
    if (env.deployment?.nodes.some((n) => n.proxyPort))
      throw new UsageError(
        'BEHIND_PROXY',
        "the workers reach the nodes through the fault proxies: the node sees the proxy's connections, not a worker's",
        'drop --stage, or start the deployment without --fault-proxy',
      );
    for (const w of workers) {
      const s = socketIn(nftCgroup(cg, workerCgroup(w)));
      out.push(...rules(`tcp dport ${port} ${s}`));
      inn.push(...rules(`tcp sport ${port} ${s}`));
    }
  } else {
    if (cg) {
      const nodes = socketIn(nftCgroup(cg, 'nodes'));
      out.push(`tcp dport ${port} ${nodes} accept`);
      inn.push(`tcp sport ${port} ${nodes} accept`);
    }
    out.push(...rules(`tcp dport ${port}`));
    inn.push(...rules(`tcp sport ${port}`));
  }
  return [
    { name: 'out', hook: 'output', rules: out },
    { name: 'in', hook: 'input', rules: inn },
  ];
}

function describeScope(f: ActiveFault): string {
  const w = scopedWorkers(f);
  return w.length ? `worker${w.length > 1 ? 's' : ''} ${w.join(', ')}` : 'every client';
}

/**
 * A kernel fault on one node's client port: an nftables table of its own, named after the fault.
 * It is seen once its rules' counters show packets it acted on (a probe of the node's port makes
 * some when the fault is on every client); the revert deletes the table, which also works after
 * the process that made it crashed.
 */
function kernelFault(o: {
  kind: FaultKind;
  summary: string;
  /** The fault's rules for the traffic `match` selects; the counter of the acting rule comes before its verdict. */
  rules: (match: string, f: ActiveFault) => string[];
  describe: (f: ActiveFault) => string;
  evidence: (acted: number, seen: number) => string;
}): FaultAction {
  return {
    kind: o.kind,
    summary: o.summary,
    target: 'node',
    external: false,
    lasting: true,
    async apply(env, f) {
      await requireNft(o.kind);
      const t = f.target as NodeTarget;
      await createTable(
        tableName(f.id),
        clientPortChains(env, t.port, scopedWorkers(f), (m) => o.rules(m, f)),
      );
      return `nftables table inet ${tableName(f.id)}: ${o.describe(f)} between ${t.address} and ${describeScope(f)}`;
    },
    async check(env, f) {
      const t = f.target as NodeTarget;
      if (scopedWorkers(f).length === 0) await pingProbe(t.host, t.port);
      const c = await tableCounters(tableName(f.id));
      const acted = c?.[ACTED]?.packets ?? 0;
      return acted > 0 ? o.evidence(acted, c?.[SEEN]?.packets ?? 0) : undefined;
    },
    async revert(env, f) {
      const how = await removeTable(tableName(f.id));
      return env.deployment ? `${how}; ${await settled(env)}` : how;
    },
  };
}

/** The node's clients are cut off in the kernel: their packets, and the node's to them, are dropped. */
export const drop = kernelFault({
  kind: 'drop',
  summary: "drop every packet between a node and its clients (or --stage's workers) in the kernel (nftables, root)",
  rules: (m) => [`${m} counter drop comment "${ACTED}"`],
  describe: () => 'every packet dropped',
  evidence: (n) => `it dropped ${n} packet(s)`,
});

/** Every packet between the node and its clients is answered with a TCP reset. */
export const reject = kernelFault({
  kind: 'reject',
  summary:
    "reset every connection between a node and its clients (or --stage's workers) in the kernel (nftables, root)",
  rules: (m) => [`${m} counter reject with tcp reset comment "${ACTED}"`],
  describe: () => 'every packet answered with a TCP reset',
  evidence: (n) => `it answered ${n} packet(s) with a reset`,
});

const percent = (f: ActiveFault) => Number(f.params.percent ?? 5);

/** A share of the packets between the node and its clients is dropped, at random: TCP retransmits them. */
export const loss = kernelFault({
  kind: 'loss',
  summary: 'drop --percent of the packets between a node and its clients at random in the kernel (nftables, root)',
  rules: (m, f) => [
    `${m} counter comment "${SEEN}"`,
    `${m} numgen random mod 10000 < ${Math.round(percent(f) * 100)} counter drop comment "${ACTED}"`,
  ],
  describe: (f) => `${percent(f)}% of the packets dropped at random`,
  evidence: (acted, seen) =>
    `it dropped ${acted} of ${seen} packet(s)${seen ? ` (${((acted / seen) * 100).toFixed(1)}%)` : ''}`,
});
