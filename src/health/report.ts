/** The shape of `streamctl health --json`. Field names are stable: scripts depend on them. */
export type HealthStatus = 'ok' | 'degraded' | 'down';

export interface NodeHealth {
  id: string | null;
  address: string;
  role: 'primary' | 'replica';
  up: boolean;
  /** Why the node is not up, when it is not. */
  error?: string;
  flags: string[];
  primaryId?: string;
  primaryAddress?: string;
  /** Replicas: the replication link as the replica sees it. */
  linkStatus?: 'up' | 'down';
  replOffset?: number;
  /** Replicas: how many bytes of the primary's replication stream they have not applied. */
  lagBytes?: number;
  usedMemory?: number;
  maxmemory?: number;
  maxmemoryPolicy?: string;
  connectedClients?: number;
  evictedKeys?: number;
  aof?: boolean;
  rdb?: boolean;
  slots?: number;
  version?: string;
}

export interface SlotsHealth {
  expected: number;
  assigned: number;
  /** Slots served by a primary that nobody suspects: 16384 when the whole keyspace is available. */
  covered: number;
  pfail: number;
  fail: number;
}

export interface ConsumerHealth {
  name: string;
  pending: number;
  idleMs: number;
}

export interface GroupHealth {
  stream: string;
  group: string;
  /** Entries not yet delivered to the group; null when Redis cannot tell (after deletions). */
  lag: number | null;
  pending: number;
  lastDeliveredId: string;
  oldestPendingIdleMs: number | null;
  consumers: ConsumerHealth[];
}

export interface StreamHealth {
  key: string;
  node: string;
  length: number;
  lastId: string | null;
  groups: number;
}

export interface WorkerHealth {
  id: string;
  stage: string;
  pid: number;
  host: string;
  /** Heartbeat within the last 3 s. */
  live: boolean;
  lastSeenMs: number;
  owned: number;
  received: number;
  rate: number;
  metricsPort?: number;
}

export interface StageHealth {
  stage: string;
  liveWorkers: number;
  /** Entries not yet delivered to the stage, over all partitions. */
  lag: number;
  pending: number;
}

export interface Finding {
  code: string;
  message: string;
  node?: string;
}

export interface HealthReport {
  status: HealthStatus;
  mode: 'cluster' | 'standalone';
  /** Redacted URLs health connected through. */
  target: string[];
  checkedAt: string;
  nodes: NodeHealth[];
  cluster: { state: string; knownNodes: number; size: number; currentEpoch: number } | null;
  slots: SlotsHealth | null;
  failing: { id: string; address: string; flags: string[] }[];
  /** Why the status is not ok. */
  problems: Finding[];
  /** Risky settings and things to watch; they do not change the status. */
  warnings: Finding[];
  namespace: string;
  streams: StreamHealth[];
  groups: GroupHealth[];
  workers: WorkerHealth[];
  stages: StageHealth[];
}
