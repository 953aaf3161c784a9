import type { FaultKind } from '../fault.js';
import type { FaultAction } from '../fault-action.js';
import { clientPause } from './client-pause.js';
import { failover } from './failover.js';
import { killNode } from './kill-node.js';
import { killWorker } from './kill-worker.js';
import { pauseNode } from './pause-node.js';
import { pauseWorker } from './pause-worker.js';
import { bandwidth, blackhole, latency, reset } from './proxy-fault.js';
import { restartNode } from './restart-node.js';
import { drop, loss, reject } from './kernel-fault.js';
import { partition } from './partition.js';

/** The faults that act through nftables rules in the kernel: they outlive the deployment, so `chaos heal` always reverts them. */
export const KERNEL_FAULTS: readonly FaultKind[] = [drop, reject, loss, partition].map((a) => a.kind);

/** What each kind of fault does. */
export const FAULT_ACTIONS: Record<FaultKind, FaultAction> = {
  'kill-node': killNode,
  'pause-node': pauseNode,
  'restart-node': restartNode,
  failover,
  'client-pause': clientPause,
  'kill-worker': killWorker,
  'pause-worker': pauseWorker,
  latency,
  bandwidth,
  blackhole,
  reset,
  drop,
  reject,
  loss,
  partition,
};
