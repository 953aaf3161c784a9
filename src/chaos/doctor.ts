import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { readControlEndpoint } from '../embedded/control-client.js';
import { controlFile } from '../embedded/control-server.js';
import { readDeployment } from '../embedded/deployment.js';
import { FAULT_KINDS, type FaultKind } from './fault.js';
import { signalProcess } from './process-signals.js';
import { FAULT_ACTIONS } from './faults/index.js';
import { NETWORK_FAULTS } from './faults/proxy-fault.js';

/** Whether a kind of fault works here, and why not when it does not. */
export interface DoctorRow {
  kind: FaultKind | 'kernel (nftables)';
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

function onPath(bin: string, path: string | undefined): boolean {
  return (path ?? '').split(delimiter).some((d) => d && existsSync(join(d, bin)));
}

/**
 * Which fault kinds can be injected from here, into the embedded deployment in `home` (or, without
 * one, into a Redis given with --redis), and for each that cannot, why: no deployment, its processes
 * belong to another user, its supervisor's control file cannot be read, no fault proxy, no root.
 */
export function chaosDoctor(home: string, env: Record<string, string | undefined>): DoctorReport {
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
  const nft = onPath('nft', env.PATH) || existsSync('/usr/sbin/nft');
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
  rows.push({
    kind: 'kernel (nftables)',
    works: false,
    why: `not in this version of streamctl (nft ${nft ? 'found' : 'not found'}; they would need root: ${root ? 'yes' : 'no'})`,
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
      nft,
      cgroupV2: existsSync('/sys/fs/cgroup/cgroup.controllers'),
    },
  };
}
