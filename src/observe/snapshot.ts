/**
 * What an operator looks at, in one object: the nodes, the cluster, the namespace's streams, groups,
 * stages and workers, and (for the embedded deployment) the supervised processes and their events.
 * `health` renders it and prints it as `health --json`; field names are stable (scripts depend on
 * them): fields are added, never renamed.
 */
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
  /** Embedded deployment: the redis-server's pid, as its supervisor knows it. */
  pid?: number;
  /** Embedded deployment: how often the supervisor restarted this node. */
  restarts?: number;
  /** Embedded deployment: why the node's process last exited. */
  lastExit?: ProcessExit;
  /** Embedded deployment: the role the node had when the deployment formed. */
  was?: 'primary' | 'replica';
  /** A node that is not as it was, in words: "was primary, down; its replica 127.0.0.1:7004 promoted". */
  change?: string;
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
  /**
   * Entries not yet delivered to the group (see `groupLag`); null only when the node that serves
   * the stream did not answer.
   */
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
  /** 0 for a worker that is not live: a dead worker's figures are not shown as current. */
  rate: number;
  metricsPort?: number;
  /**
   * Durable mode: events of commits that landed on a primary but that no replica acknowledged in
   * time (the worker retries them); present once there is one.
   */
  notDurable?: number;
  /** Embedded deployment: restarts of the supervised worker slot this process fills. */
  restarts?: number;
}

export interface StageHealth {
  stage: string;
  liveWorkers: number;
  /** Entries not yet delivered to the stage, over all partitions. */
  lag: number;
  pending: number;
  /** Embedded deployment: worker processes the deployment runs for the stage. */
  configuredWorkers?: number;
  /** Dead-letter records of the stage, over every partition's dead-letter stream. */
  deadLetters?: number;
  /**
   * Set when part of `deadLetters` was attributed from a sample: a dead-letter stream shared by
   * several stages and too long to read on every snapshot.
   */
  deadLettersEstimated?: boolean;
  /** Embedded deployment: restarts of the stage's worker processes. */
  restarts?: number;
  /** Durable mode: the stage's live workers' `notDurable`, summed; present once there is one. */
  notDurable?: number;
}

export interface Finding {
  code: string;
  message: string;
  node?: string;
  /** The stage the finding is about, when it is about one. */
  stage?: string;
}

export interface Snapshot {
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
  /** The embedded deployment's supervised processes and events; absent for a Redis streamctl did not start. */
  deployment?: DeploymentStatus;
}

/** How a supervised process ended. */
export interface ProcessExit {
  at: string;
  /** `signal SIGKILL`, `exit code 1`, or what failed. */
  reason: string;
}

/** One process the supervisor runs: a redis-server or a stage worker slot. */
export interface SupervisedProcess {
  kind: 'node' | 'worker';
  /** How events and control requests name it: `127.0.0.1:7001` for a node, `enrich#1` for a worker slot. */
  name: string;
  /** Workers: the stage the slot runs. */
  stage?: string;
  /** Nodes: the role recorded when the deployment formed. */
  role?: 'primary' | 'replica';
  /** Nodes: the address of the primary a replica was formed to follow. */
  replicaOf?: string;
  /** The current process; null while none runs. */
  pid: number | null;
  alive: boolean;
  state: 'starting' | 'running' | 'restarting' | 'gave-up' | 'stopped';
  restarts: number;
  lastExit?: ProcessExit;
}

/** One line of `<home>/events.log` (NDJSON). */
export interface DeploymentEvent {
  time: string;
  /** `fault` and `healed`: a chaos fault on the deployment applied, and reverted. */
  kind:
    | 'start'
    | 'ready'
    | 'exit'
    | 'failover'
    | 'restart'
    | 'gave-up'
    | 'repair'
    | 'request'
    | 'stop'
    | 'failed'
    | 'fault'
    | 'healed';
  /** `supervisor`, a node address, or a worker slot (`enrich#1`). */
  process: string;
  pid?: number;
  reason?: string;
}

/** The embedded deployment as its supervisor sees it (or, with the supervisor gone, as recorded). */
export interface DeploymentStatus {
  home: string;
  /** The process that supervises the deployment; null when none was recorded. */
  supervisor: { pid: number; alive: boolean; restart: RestartPolicy; control?: string } | null;
  processes: SupervisedProcess[];
  /** Worker processes per stage the deployment is configured to run. */
  configured: Record<string, number>;
  /** The latest events, oldest first. */
  events: DeploymentEvent[];
}

/** Whether the supervisor restarts a process that died. */
export type RestartPolicy = 'on-failure' | 'never';
