import { createWriteStream, type WriteStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { RuntimeError, UsageError } from '../errors.js';
import type { DeploymentStatus, RestartPolicy } from '../observe/snapshot.js';
import { loadPipeline } from '../pipeline/definition.js';
import { ensureTopology, type Topology } from '../pipeline/topology.js';
import { liveHeartbeats } from '../pipeline/worker/heartbeats.js';
import type { RedisConnection, RedisFactory } from '../redis/connection.js';
import { parseRedisUrls } from '../redis/endpoint.js';
import type { ControlAction, ControlEnsured, ControlProxy, ControlRequest } from './control-protocol.js';
import type { NodeProxy, NodeProxyFactory } from './node-proxy.js';
import { formatAddressMap } from '../redis/endpoint.js';
import { startControlServer, type ControlServer } from './control-server.js';
import { collectSnapshot } from '../observe/collect-snapshot.js';
import { DeploymentMetrics } from '../observe/deployment-metrics.js';
import { startMetricsServer, type MetricsServer } from '../observe/metrics-server.js';
import { scrapeTargets } from '../observe/scrape-targets.js';
import { findPrometheus, prometheusHome, startPrometheus, type PrometheusProcess } from './prometheus.js';
import {
  clientUrls,
  liveNodes,
  proxyMap,
  readDeployment,
  repairDeployment,
  startDeployment,
  startRecordedNode,
  stopDeployment,
  writeDeployment,
  workersLog,
  type Deployment,
  type StartOptions,
  type Started,
} from './deployment.js';
import { appendEvent, readEvents } from './events-log.js';
import { failoverWaitMs, handOver, waitForFailover } from './node-failover.js';
import { isPidAlive } from '../pid.js';
import { ensureCgroup, workerCgroup } from './cgroups.js';
import { isNodeAlive, stopNode } from './redis-server.js';
import type { RestartLimits } from './restart-policy.js';
import { ManagedProcess, type ProcessEvents, type Spawned } from './supervised-process.js';
import { spawnWorker, stopWorkerProcesses, WORKER_STOP_MS } from './worker-processes.js';

/** How often the supervisor looks for processes that died without an exit event it could see. */
const CHECK_EVERY_MS = 250;
/** How long a worker process gets to say it is ready. */
const WORKER_READY_MS = 30_000;
/** How long an `ensure` waits for a process to run again: a killed primary's failover and restart. */
const ENSURE_MS = 45_000;
/** How long a handover of a primary to its replica may take before an operator's restart. */
const HANDOVER_MS = 15_000;

export interface SupervisorOptions extends Omit<StartOptions, 'onProgress'> {
  namespace: string;
  /** A pipeline file or a built-in pipeline name, checked before (see `checkPipeline`). */
  pipeline: string | undefined;
  cwd: string;
  /** Start the pipeline's stage workers, each in its own process. */
  workers: boolean;
  /** Open a connection and the namespace's topology even without workers (for a server in this process). */
  connect: boolean;
  restart: RestartPolicy;
  limits?: RestartLimits;
  env: Record<string, string | undefined>;
  redis: RedisFactory;
  /** Lines for the person who ran `up`. */
  progress: (line: string) => void;
  /** Run a fault proxy in front of every node, through which every client connects (`up --fault-proxy`). */
  faultProxy?: boolean;
  /** Starts a fault proxy: given by the process that runs the supervisor (the proxy is the fault layer's). */
  proxyFactory?: NodeProxyFactory;
  /** Where the workers' own lines go besides `<home>/workers.log` (a foreground `up` shows them). */
  workerOutput?: (line: string) => void;
  /** The port of the deployment's metrics and the workers' scrape discovery on 127.0.0.1 (0: a free one). */
  metricsPort?: number;
  /** Start Prometheus on 127.0.0.1 at this port, scraping the deployment (`up --prometheus`). */
  prometheusPort?: number | undefined;
}

/**
 * The embedded deployment's supervisor: it starts Redis and the pipeline's stage workers, restarts
 * any of them that dies (within its restart budget; a killed primary once its replica took over),
 * writes each event to `<home>/events.log`, keeps the record in `deployment.json` current, and takes
 * requests on its control channel. It runs in the foreground `up`, or in the background process that
 * `up --detach` starts. `stop` drains the workers first, then stops Redis.
 */
export class Supervisor {
  readonly home: string;
  readonly deployment: Deployment;
  readonly resumed: boolean;
  readonly stages: string[];
  readonly conn: RedisConnection | undefined;
  readonly topology: Topology | undefined;
  /** Resolves when a `stop` request has stopped everything: the process that runs the supervisor may exit. */
  readonly stopped: Promise<void>;
  private nodes: ManagedProcess[] = [];
  private workers: ManagedProcess[] = [];
  private control: ControlServer | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopping: Promise<number> | undefined;
  private controlClosed: Promise<void> | undefined;
  private workerLog: WriteStream | undefined;
  private metrics: MetricsServer | undefined;
  private prometheus: PrometheusProcess | undefined;
  /** The fault proxies by node port (`up --fault-proxy`). */
  private readonly proxies: Map<number, NodeProxy>;
  private markStopped!: () => void;
  private readonly events: ProcessEvents;

  private constructor(
    private readonly o: SupervisorOptions,
    started: Started,
    running: { stages: string[]; conn?: RedisConnection; topology?: Topology; proxies: Map<number, NodeProxy> },
  ) {
    this.proxies = running.proxies;
    this.home = o.home;
    this.deployment = started.deployment;
    this.resumed = started.resumed;
    this.stages = running.stages;
    this.conn = running.conn;
    this.topology = running.topology;
    this.stopped = new Promise((resolve) => (this.markStopped = resolve));
    this.events = {
      event: (kind, p, reason) => this.event(kind, p.name, reason),
      changed: () => this.record(),
    };
  }

  /**
   * Starts (or repairs) the deployment in `o.home` and its workers, and supervises them. Nothing is
   * left running when it fails: it throws the first error, naming the stage of a worker that failed.
   */
  static async start(o: SupervisorOptions): Promise<Supervisor> {
    const existing = readDeployment(o.home);
    if (existing?.supervisorPid && existing.supervisorPid !== process.pid && isPidAlive(existing.supervisorPid))
      throw new RuntimeError(
        'ALREADY_RUNNING',
        `an embedded deployment is already running in ${o.home}, supervised by pid ${existing.supervisorPid}`,
        'use it as it is (`streamctl health`), or stop it first with `streamctl down`',
      );
    const repair = existing?.running === true && liveNodes(existing).length > 0;
    const started: Started & { restarted?: number[] } = repair
      ? await repairDeployment(o.home, existing, { bin: o.bin, onProgress: o.progress })
      : await startDeployment({ ...o, detached: false, onProgress: o.progress });
    let conn: RedisConnection | undefined;
    let sup: Supervisor | undefined;
    const proxies = new Map<number, NodeProxy>();
    try {
      if (o.faultProxy) {
        if (!o.proxyFactory) throw new Error('--fault-proxy: this process was not given a fault proxy to run');
        for (const n of started.deployment.nodes) {
          const proxy = await o.proxyFactory({ host: started.deployment.host, port: n.port });
          proxies.set(n.port, proxy);
          n.proxyPort = proxy.port;
        }
        o.progress(
          `fault proxies: ${started.deployment.nodes.map((n) => `${n.port} -> ${n.proxyPort}`).join(', ')} (every client connects through them)`,
        );
      }
      let topology: Topology | undefined;
      let stages: { name: string; workers: number }[] = [];
      if (o.workers || o.connect) {
        const { definition } = loadPipeline(o.pipeline, o.cwd);
        stages = definition.stages.map((s) => ({ name: s.name, workers: s.workers }));
        const map = proxyMap(started.deployment);
        conn = await o.redis.open({
          endpoints: parseRedisUrls(clientUrls(started.deployment).join(',')),
          source: 'embedded deployment',
          ...(map ? { addressMap: map } : {}),
        });
        topology = await ensureTopology(conn.client(), o.namespace, definition.stages, {
          partitions: definition.partitions,
        });
      }
      sup = new Supervisor(o, started, { stages: stages.map((s) => s.name), conn, topology, proxies });
      sup.adoptNodes(started, repair ? existing : undefined);
      sup.event('start', 'supervisor', `pid ${process.pid}, restart ${o.restart}`);
      if (started.restarted)
        sup.event(
          'repair',
          'supervisor',
          `took over from pid ${existing?.supervisorPid ?? '?'}; started again: ${started.restarted.map((p: number) => `${started.deployment.host}:${p}`).join(', ') || 'no node'}`,
        );
      if (repair && existing.workers?.length) await stopWorkerProcesses(existing.workers, WORKER_STOP_MS);
      if (o.workers) await sup.startWorkers(stages);
      sup.control = await startControlServer(o.home, (r) => sup!.handle(r));
      if (conn) await sup.startMetrics(conn);
      sup.record();
      sup.timer = setInterval(() => sup!.check(), CHECK_EVERY_MS);
      sup.event('ready', 'supervisor', `control ${sup.control.url}`);
      return sup;
    } catch (err) {
      if (sup) await sup.stop({ keepData: started.resumed });
      else {
        await Promise.all([...proxies.values()].map((p) => p.close()));
        await conn?.close();
        await stopDeployment(o.home, started.deployment, { keepData: started.resumed });
      }
      throw err;
    }
  }

  /** The deployment's metrics endpoint, with the workers' discovery; then Prometheus, if asked. */
  private async startMetrics(conn: RedisConnection): Promise<void> {
    const ns = this.o.namespace;
    const source = new DeploymentMetrics(() => collectSnapshot(conn, ns, { deployment: this.status() }));
    this.metrics = await startMetricsServer({
      source,
      port: this.o.metricsPort ?? 0,
      discovery: async () => scrapeTargets(await liveHeartbeats(conn.client(), ns)),
    });
    const base = this.metrics.url.replace(/\/metrics$/, '');
    this.deployment.metrics = { url: this.metrics.url, discovery: `${base}/discovery` };
    this.o.progress(`metrics on ${this.metrics.url}; Prometheus finds the workers at ${base}/discovery`);
    if (this.o.prometheusPort === undefined) return;
    this.prometheus = await startPrometheus({
      bin: findPrometheus(this.o.env.PATH),
      home: this.home,
      port: this.o.prometheusPort,
      deployment: `${this.metrics.host}:${this.metrics.port}`,
    });
    const { pid, url, config } = this.prometheus;
    this.deployment.prometheus = { pid, url, config };
    this.event('ready', `prometheus`, `pid ${pid}, ${url}`);
    this.o.progress(`prometheus on ${url} (config ${config}; its data and log in ${prometheusHome(this.home)})`);
  }

  private adoptNodes(started: Started, previous: Deployment | undefined): void {
    const d = this.deployment;
    for (const n of d.nodes) {
      const name = `${d.host}:${n.port}`;
      const p = new ManagedProcess(
        {
          kind: 'node',
          name,
          role: n.role,
          ...(n.replicaOf !== undefined ? { replicaOf: `${d.host}:${n.replicaOf}` } : {}),
        },
        {
          spawn: async () => {
            const s = await startRecordedNode(this.o.bin, d, n);
            return { pid: s.pid, ...(s.child ? { child: s.child } : {}) };
          },
          alive: (pid) => isNodeAlive(pid, n.port),
          ...(d.mode === 'cluster'
            ? {
                beforeRestart: async (signal: AbortSignal) => {
                  const peers = d.nodes.filter((x) => x !== n).map((x) => x.port);
                  if (await waitForFailover(d.host, n.port, peers, failoverWaitMs(d.nodeTimeoutMs), signal))
                    this.event('failover', name, 'its replica took over; starting it again as a replica');
                },
              }
            : {}),
        },
        this.events,
        this.o.restart,
        this.o.limits,
      );
      const child = started.processes.find((s) => s.port === n.port)?.child;
      p.adopt({ pid: n.pid, ...(child ? { child } : {}) });
      const before = previous?.nodes.find((x) => x.port === n.port);
      if (before?.restarts) p.restarts = before.restarts;
      if (before?.lastExit) p.lastExit = before.lastExit;
      this.nodes.push(p);
    }
  }

  private workerProcess(stage: string, slot: number): ManagedProcess {
    const name = `${stage}#${slot}`;
    return new ManagedProcess(
      { kind: 'worker', name, stage },
      { spawn: () => this.spawnWorker(stage, name), alive: isPidAlive },
      this.events,
      this.o.restart,
      this.o.limits,
    );
  }

  /** Starts one worker process and resolves once it says it is ready; rejects with its last words if it exits first. */
  private spawnWorker(stage: string, name: string): Promise<Spawned> {
    this.workerLog ??= createWriteStream(workersLog(this.home), { flags: 'a' });
    const child = spawnWorker({
      stage,
      redisUrls: clientUrls(this.deployment),
      redisMap: this.proxies.size ? formatAddressMap(proxyMap(this.deployment)!) : undefined,
      namespace: this.o.namespace,
      pipeline: this.o.pipeline,
      home: this.home,
      detached: false,
      stderr: 'pipe',
      ipc: true,
      env: this.o.env,
      cgroup: this.deployment.cgroups && ensureCgroup(this.deployment.cgroups, workerCgroup(name)),
    });
    const said: string[] = [];
    createInterface({ input: child.stderr! }).on('line', (line) => {
      const stamped = `${new Date().toISOString()} ${name} pid ${child.pid}: ${line}`;
      this.workerLog?.write(`${stamped}\n`);
      this.o.workerOutput?.(`${name}: ${line}`);
      said.push(line);
      if (said.length > 5) said.shift();
    });
    return new Promise<Spawned>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`not ready within ${WORKER_READY_MS / 1000}s`));
      }, WORKER_READY_MS);
      child.on('message', (m: { type?: string }) => {
        if (m?.type !== 'ready') return;
        clearTimeout(timer);
        resolve({ pid: child.pid!, child });
      });
      child.once('error', (err) => (clearTimeout(timer), reject(err)));
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        // Its stderr may still hold its last words: read them before saying why it failed.
        setImmediate(() => {
          const words = said.filter((l) => /error|hint|fail/i.test(l)).join(' ') || said.join(' ');
          reject(new Error(`exited (${signal ?? `code ${code}`}) before it was ready${words ? `: ${words}` : ''}`));
        });
      });
    });
  }

  private async startWorkers(stages: { name: string; workers: number }[]): Promise<void> {
    const procs = stages.flatMap((s) => Array.from({ length: s.workers }, (_, i) => this.workerProcess(s.name, i + 1)));
    this.workers.push(...procs);
    const results = await Promise.allSettled(procs.map((p) => p.start()));
    const failed = results.findIndex((r) => r.status === 'rejected');
    if (failed >= 0) {
      const p = procs[failed]!;
      const reason = ((results[failed] as PromiseRejectedResult).reason as Error).message;
      this.event('failed', p.name, reason);
      throw new RuntimeError(
        'WORKER_START_FAILED',
        `stage ${p.id.stage}: worker ${p.name} failed at start: ${reason}`,
        'fix the stage (its error is above), then run `streamctl up` again',
      );
    }
    this.o.progress(
      `started ${procs.length} stage worker process(es): ${this.stages.join(' -> ')} in namespace "${this.o.namespace}" (log: ${workersLog(this.home)})`,
    );
  }

  private check(): void {
    for (const p of [...this.nodes, ...this.workers]) p.check();
  }

  private event(kind: Parameters<typeof appendEvent>[1]['kind'], process: string, reason?: string): void {
    const e = appendEvent(this.home, { kind, process, ...(reason ? { reason } : {}) });
    if (kind !== 'start' && kind !== 'ready')
      this.o.progress(`${e.time.slice(11, 19)}  ${process}: ${kind}${reason ? ` (${reason})` : ''}`);
  }

  /** Writes what the supervisor knows into `deployment.json`, where `health` and `down` read it. */
  private record(): void {
    if (this.stopping) return;
    const d = this.deployment;
    for (const p of this.nodes) {
      const n = d.nodes.find((x) => `${d.host}:${x.port}` === p.name)!;
      if (p.pid !== null) n.pid = p.pid;
      n.restarts = p.restarts;
      n.state = p.state;
      if (p.lastExit) n.lastExit = p.lastExit;
    }
    if (this.o.workers) {
      d.workers = this.workers.map((w) => ({
        stage: w.id.stage!,
        pid: w.pid ?? 0,
        name: w.name,
        restarts: w.restarts,
        state: w.state,
        ...(w.lastExit ? { lastExit: w.lastExit } : {}),
      }));
      d.configured = Object.fromEntries(
        this.stages.map((s) => [s, this.workers.filter((w) => w.id.stage === s && w.state !== 'stopped').length]),
      );
    }
    d.namespace = this.o.namespace;
    d.supervisorPid = process.pid;
    d.restart = this.o.restart;
    d.running = true;
    writeDeployment(this.home, d);
  }

  /** The supervised processes and the latest events. */
  status(): DeploymentStatus {
    return {
      home: this.home,
      supervisor: {
        pid: process.pid,
        alive: true,
        restart: this.o.restart,
        ...(this.control ? { control: this.control.url } : {}),
      },
      processes: [...this.nodes, ...this.workers].map((p) => p.view()),
      configured: this.deployment.configured ?? {},
      events: readEvents(this.home),
    };
  }

  private find(name: string): ManagedProcess {
    const all = [...this.nodes, ...this.workers];
    const p =
      all.find((x) => x.name === name) ??
      (/^\d+$/.test(name) ? all.find((x) => x.name.endsWith(`:${name}`) || String(x.pid) === name) : undefined);
    if (!p)
      throw new UsageError(
        'UNKNOWN_PROCESS',
        `no process "${name}" in this deployment (nodes: ${this.nodes.map((x) => x.name).join(', ')}; workers: ${this.workers.map((x) => x.name).join(', ') || 'none'})`,
        'name a node by host:port or port, a worker by stage#n or pid (see `streamctl health`)',
      );
    return p;
  }

  /** The fault proxy in front of a node named as `host:port` or its port. */
  private proxyOf(node: string): NodeProxy {
    const port = Number(node.split(':').pop());
    const p = this.proxies.get(port);
    if (!p)
      throw new UsageError(
        this.proxies.size ? 'UNKNOWN_NODE' : 'NO_FAULT_PROXY',
        this.proxies.size
          ? `no fault proxy in front of ${node} (nodes: ${[...this.proxies.keys()].join(', ')})`
          : 'this deployment runs no fault proxy',
        this.proxies.size ? 'name a node of the deployment' : 'start it with `streamctl up --fault-proxy`',
      );
    return p;
  }

  private stopper(p: ManagedProcess): (pid: number) => Promise<void> {
    if (p.id.kind === 'worker') return (pid) => stopWorkerProcesses([{ pid }], WORKER_STOP_MS);
    const port = Number(p.name.split(':').pop());
    return (pid) => stopNode({ pid, port });
  }

  /** Serves one control request. */
  async handle(r: ControlRequest): Promise<unknown> {
    if (r.kind !== 'status') this.event('request', 'supervisor', JSON.stringify(r));
    switch (r.kind) {
      case 'status':
        return this.status();
      case 'restart': {
        const p = this.find(r.process);
        if (p.id.kind === 'node' && this.deployment.mode === 'cluster' && p.pid !== null) {
          const [host, port] = [this.deployment.host, Number(p.name.split(':').pop())];
          const to = await handOver(host, port, HANDOVER_MS);
          if (to) this.event('request', p.name, `handed its slots to ${to} before the restart`);
        }
        await p.restartNow(this.stopper(p));
        this.event('restart', p.name, `pid ${p.pid}, on request`);
        return { started: [p.name], stopped: [p.name] } satisfies ControlAction;
      }
      case 'ensure': {
        const p = this.find(r.process);
        const started = await p.ensureRunning(ENSURE_MS);
        return { process: p.name, pid: p.pid!, started } satisfies ControlEnsured;
      }
      case 'toxic': {
        const proxy = this.proxyOf(r.node);
        if (r.add !== undefined) proxy.addToxic(r.add);
        if (r.remove !== undefined) proxy.removeToxic(r.remove);
        return { node: r.node, port: proxy.port!, toxics: proxy.toxics(), stats: proxy.stats() } satisfies ControlProxy;
      }
      case 'proxies':
        return [...this.proxies].map(([port, p]) => ({
          node: `${this.deployment.host}:${port}`,
          port: p.port!,
          toxics: p.toxics(),
          stats: p.stats(),
        })) satisfies ControlProxy[];
      case 'scale':
        return this.scale(r.stage, r.workers);
      case 'repair': {
        const down = [...this.nodes, ...this.workers].filter((p) => p.state === 'gave-up');
        for (const p of down) await p.restartNow(async () => undefined);
        return { started: down.map((p) => p.name), stopped: [] } satisfies ControlAction;
      }
      case 'stop': {
        const before = liveNodes(this.deployment).map((n) => n.port);
        await this.stop({ keepData: r.keepData });
        // The process may exit once this answer has left.
        void this.controlClosed?.then(() => this.markStopped());
        return { stopped: before };
      }
    }
  }

  private async scale(stage: string, n: number): Promise<ControlAction> {
    if (!this.stages.includes(stage))
      throw new UsageError(
        'UNKNOWN_STAGE',
        `no stage "${stage}" in this pipeline (stages: ${this.stages.join(', ') || 'none: started with --no-workers'})`,
        'pick one of the listed stages',
      );
    const mine = this.workers.filter((w) => w.id.stage === stage);
    const action: ControlAction = { started: [], stopped: [] };
    if (n > mine.length) {
      const used = new Set(mine.map((w) => Number(w.name.split('#')[1])));
      const fresh: ManagedProcess[] = [];
      for (let slot = 1; fresh.length < n - mine.length; slot++)
        if (!used.has(slot)) fresh.push(this.workerProcess(stage, slot));
      this.workers.push(...fresh);
      await Promise.all(fresh.map((p) => p.start()));
      action.started = fresh.map((p) => p.name);
    } else if (n < mine.length) {
      const drain = mine.slice(n);
      await Promise.all(drain.map((p) => p.stop(this.stopper(p))));
      this.workers = this.workers.filter((w) => !drain.includes(w));
      action.stopped = drain.map((p) => p.name);
    }
    this.record();
    return action;
  }

  /** One line: per stage, live workers, owned partitions and rate, from the heartbeats; and restarts. */
  async statusLine(): Promise<string | undefined> {
    if (!this.conn || !this.topology) return undefined;
    const beats = await liveHeartbeats(this.conn.client(), this.topology.keys.ns);
    const parts = this.stages.map((st) => {
      const hs = beats.filter((h) => h.stage === st);
      const rate = hs.reduce((a, h) => a + h.rate, 0);
      const owned = hs.reduce((a, h) => a + h.owned.length, 0);
      const done = hs.reduce((a, h) => a + h.received, 0);
      return `${st}: ${hs.length}w ${owned}p ${rate.toLocaleString('en')} ev/s (${done.toLocaleString('en')})`;
    });
    const restarts = [...this.nodes, ...this.workers].reduce((a, p) => a + p.restarts, 0);
    return `${new Date().toISOString().slice(11, 19)}  ${parts.join('  |  ')}${restarts ? `  |  restarts ${restarts}` : ''}`;
  }

  /**
   * Drains the stage workers, then stops Redis; nothing is restarted any more.
   * @returns the number of redis-server processes stopped.
   */
  stop(o: { keepData: boolean }): Promise<number> {
    this.stopping ??= (async () => {
      if (this.timer) clearInterval(this.timer);
      this.event('stop', 'supervisor', o.keepData ? 'keeping the data' : undefined);
      // Not awaited: a `stop` request's own answer is in flight until this returns.
      this.controlClosed = this.control?.close() ?? Promise.resolve();
      if (this.workers.length) {
        this.o.progress('draining the stage workers...');
        await Promise.all(this.workers.map((p) => p.stop(this.stopper(p))));
      }
      await this.prometheus?.stop();
      delete this.deployment.prometheus;
      await this.metrics?.close();
      delete this.deployment.metrics;
      await this.conn?.close();
      await Promise.all([...this.proxies.values()].map((p) => p.close()));
      this.o.progress('stopping Redis...');
      for (const p of this.nodes) await p.stop(async () => undefined);
      const d = this.deployment;
      if (d.workers) d.workers = [];
      const stopped = await stopDeployment(this.home, d, { keepData: o.keepData });
      this.workerLog?.end();
      return stopped.length;
    })();
    return this.stopping;
  }
}
