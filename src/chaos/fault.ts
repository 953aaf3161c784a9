/**
 * A fault as data: what it does (`kind`), to which process or node (`target`), with which
 * parameters, for how long. A fault is recorded in the state folder from just before it is applied
 * until it is reverted (`fault-store.ts`), so any process can list or heal it, after any crash.
 */

/** The faults streamctl injects; `fault-actions.ts` holds what each one does. */
export const FAULT_KINDS = [
  'kill-node',
  'pause-node',
  'restart-node',
  'failover',
  'client-pause',
  'kill-worker',
  'pause-worker',
  'latency',
  'bandwidth',
  'blackhole',
  'reset',
  'drop',
  'reject',
  'loss',
  'partition',
] as const;

export type FaultKind = (typeof FAULT_KINDS)[number];

/** A Redis node, as it was when the fault was aimed. */
export interface NodeTarget {
  type: 'node';
  /** `host:port`. */
  address: string;
  host: string;
  port: number;
  role: 'primary' | 'replica';
  /** Embedded deployment: the redis-server's pid. */
  pid?: number;
}

/** A stage worker of the embedded deployment. */
export interface WorkerTarget {
  type: 'worker';
  /** The supervisor's slot name, `stage#n`. */
  name: string;
  stage: string;
  pid: number;
}

export type FaultTarget = NodeTarget | WorkerTarget;

export interface Fault {
  /** Unique per fault: the name of its record. */
  id: string;
  kind: FaultKind;
  target: FaultTarget;
  params: Record<string, unknown>;
  /** Lasting faults (a pause): how long, in ms. */
  durationMs?: number;
}

/** A fault in the state folder: applied (or being applied), not yet reverted. */
export interface ActiveFault extends Fault {
  appliedAt: string;
  /** Lasting faults: when the revert is due. */
  until?: string;
  /** The process that applied it: once it is gone, only `chaos heal` reverts the fault. */
  by: number;
  /** Where its Redis came from (`embedded deployment`, `--redis`), and its redacted URLs. */
  source: string;
  urls: string[];
}

/** The name a fault's target goes by in messages: `127.0.0.1:7001 (primary, pid 1234)`, `analyze#1 (pid 42)`. */
export function describeTarget(t: FaultTarget): string {
  return t.type === 'node'
    ? `${t.address} (${t.role}${t.pid ? `, pid ${t.pid}` : ''})`
    : `worker ${t.name} (pid ${t.pid})`;
}
