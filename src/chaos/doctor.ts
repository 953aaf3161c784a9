import { accessSync, constants } from 'node:fs';
import { readControlEndpoint } from '../embedded/control-client.js';
import { controlFile } from '../embedded/control-server.js';
import { readDeployment } from '../embedded/deployment.js';
import { FAULT_KINDS, type FaultKind } from './fault.js';
import { signalProcess } from './process-signals.js';
import { FAULT_ACTIONS } from './faults/index.js';
import { NETWORK_FAULTS } from './faults/proxy-fault.js';
import { KERNEL_FAULTS } from './faults/index.js';
import { nftSupport, ourTables } from './kernel/nft.js';
import { cgroupSupport } from '../embedded/cgroups.js';

/** Whether a kind of fault works here, and why not when it does not. */
export interface DoctorRow {
  kind: FaultKind;
  works: boolean;
  why: string;
}

export interface DoctorReport {
  uid: number | undefined;
  root: boolean;
  home: string;
  rows: DoctorRow[];
  /** Facts the rows were decided on, for a bug report. */
  facts: Record<string, string | boolean>;
}

/**
 * Which fault kinds can be injected from here, into the embedded deployment in `home` (or, without
 * one, into a Redis given with --redis), and for each that cannot, why: no deployment, its processes
 * belong to another user, its supervisor's control file cannot be read, no fault proxy, no root.
 */
export async function chaosDoctor(home: string): Promise<DoctorReport> {
  const uid = process.getuid?.();
  const root = uid === 0;
  let d;
  let recordError: string | undefined;
  try {
    d = readDeployment(home);
  } catch (err) {
    recordError = (err as Error).message;
  }
  const running = d?.running === true;
  let controlReadable = false;
  try {
    accessSync(controlFile(home), constants.R_OK);
    controlReadable = readControlEndpoint(home) !== undefined;
  } catch {
    controlReadable = false;
  }
  const pid = d?.nodes[0]?.pid;
  const signal = pid ? signalProcess(pid, 0) : 'gone';
  const proxies = Boolean(d?.nodes.some((n) => n.proxyPort));
  const nft = await nftSupport();
  const cgroups = cgroupSupport();
  const noDeployment = recordError
    ? `cannot read the embedded deployment's record in ${home}: ${recordError}`
    : `no running embedded deployment in ${home} (start one with \`streamctl up\`)`;
  const rows: DoctorRow[] = FAULT_KINDS.map((kind) => {
    const a = FAULT_ACTIONS[kind];
    if (a.external) {
      if (kind === 'failover')
        return running
          ? d!.mode === 'cluster'
            ? { kind, works: true, why: 'CLUSTER FAILOVER on a replica of the embedded cluster' }
            : { kind, works: false, why: 'the embedded deployment is a single Redis, not a cluster' }
          : { kind, works: true, why: 'on any Redis Cluster given with --redis (and --yes)' };
      return { kind, works: true, why: 'Redis offers it: any Redis (with --yes when streamctl did not start it)' };
    }
    if (!running) return { kind, works: false, why: noDeployment };
    if (!controlReadable)
      return {
        kind,
        works: false,
        why: `cannot reach the supervisor: ${controlFile(home)} is unreadable by uid ${uid} or the supervisor is gone (faults are reverted through it)`,
      };
    if (KERNEL_FAULTS.includes(kind)) {
      if (!nft.ok) return { kind, works: false, why: `needs nftables as root: ${nft.reason}` };
      if (!d!.cgroups && kind === 'partition')
        return {
          kind,
          works: false,
          why: `the nodes do not run in cgroups of their own (${cgroups.ok ? 'restart the deployment: `streamctl down`, `streamctl up`' : cgroups.reason})`,
        };
      return {
        kind,
        works: true,
        why: `${a.summary}${d!.cgroups ? '' : ' (every client only: the processes run in no cgroups of their own)'}`,
      };
    }
    if (NETWORK_FAULTS.includes(kind) && !proxies)
      return {
        kind,
        works: false,
        why: 'the deployment runs no fault proxy: start it with `streamctl up --fault-proxy`',
      };
    if (
      kind !== 'restart-node' &&
      a.target &&
      ['kill-node', 'pause-node', 'kill-worker', 'pause-worker'].includes(kind) &&
      signal === 'denied'
    )
      return {
        kind,
        works: false,
        why: `its processes run as another user: uid ${uid} may not signal them (run as their user, or root)`,
      };
    return { kind, works: true, why: a.summary };
  });
  return {
    uid,
    root,
    home,
    rows,
    facts: {
      deployment: running,
      controlReadable,
      signal: signal === 'sent' ? 'allowed' : signal,
      faultProxy: proxies,
      nft: nft.ok ? nft.version : nft.reason,
      // A table here with no recorded fault is one `chaos heal` of another state folder owns.
      nftTables: nft.ok ? (await ourTables()).join(' ') || 'none' : 'unknown',
      cgroups: d?.cgroups
        ? `${d.cgroups.mount}/${d.cgroups.path}`
        : cgroups.ok
          ? `none yet (${cgroups.mount})`
          : cgroups.reason,
    },
  };
}
