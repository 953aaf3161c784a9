import type { ChildProcess } from 'node:child_process';
import { RuntimeError } from '../errors.js';
import type { ProcessExit, RestartPolicy, SupervisedProcess } from '../observe/snapshot.js';
import { waitFor } from '../wait.js';
import { RESTART_DEFAULTS, RestartBudget, type RestartLimits } from './restart-policy.js';

/** A process just started, and (when this process spawned it) its handle. */
export interface Spawned {
  pid: number;
  child?: ChildProcess;
}

/** What the supervisor does for one kind of process: start it, tell whether it lives, wait before a restart. */
export interface ProcessOps {
  /** Starts the process and resolves once it is ready; rejects with the reason it could not start. */
  spawn(): Promise<Spawned>;
  alive(pid: number): boolean;
  /** Resolves when a restart may begin (a killed primary waits for its failover). */
  beforeRestart?(signal: AbortSignal): Promise<void>;
}

/** What a supervised process reports to its supervisor. */
export interface ProcessEvents {
  event(kind: 'exit' | 'restart' | 'gave-up' | 'failed', p: ManagedProcess, reason?: string): void;
  changed(): void;
}

type Identity = Pick<SupervisedProcess, 'kind' | 'name' | 'stage' | 'role' | 'replicaOf'>;

/**
 * One process the supervisor keeps alive: a redis-server or a stage worker slot. It notices the
 * process's exit (its child `exit` event, or a liveness check for a process adopted from an earlier
 * supervisor), and restarts it within its restart budget, after the kind's own wait.
 */
export class ManagedProcess {
  pid: number | null = null;
  state: SupervisedProcess['state'] = 'starting';
  restarts = 0;
  lastExit: ProcessExit | undefined;
  private child: ChildProcess | undefined;
  private exitReason: string | undefined;
  private startedAt = Date.now();
  private readonly budget: RestartBudget;
  private pending: AbortController | undefined;

  constructor(
    readonly id: Identity,
    private readonly ops: ProcessOps,
    private readonly events: ProcessEvents,
    private readonly policy: RestartPolicy,
    private readonly limits: RestartLimits = RESTART_DEFAULTS,
  ) {
    this.budget = new RestartBudget(policy, limits);
  }

  get name(): string {
    return this.id.name;
  }

  /** Takes over a process that already runs (started by `startDeployment`, or left by an earlier supervisor). */
  adopt(s: Spawned): void {
    this.attach(s);
    this.state = 'running';
  }

  /** Starts the process for the first time; rejects if it cannot start (no restart is tried). */
  async start(): Promise<void> {
    this.state = 'starting';
    this.attach(await this.ops.spawn());
    this.state = 'running';
    this.events.changed();
  }

  private attach(s: Spawned): void {
    this.pid = s.pid;
    this.child = s.child;
    this.exitReason = undefined;
    this.startedAt = Date.now();
    s.child?.once('exit', (code, signal) => {
      if (this.child !== s.child) return;
      this.exitReason = signal ? `signal ${signal}` : `exit code ${code}`;
      this.check();
    });
  }

  /** Looks whether the running process died; if so records it and plans its restart. */
  check(): void {
    if (this.state !== 'running' || this.pid === null) return;
    // A child of this process reports its own exit, with the signal or code: a liveness check
    // between the death and that report would see a zombie and record the reason as "gone".
    if (this.exitReason === undefined && (this.child !== undefined || this.ops.alive(this.pid))) return;
    this.died(this.exitReason ?? 'gone');
  }

  private died(reason: string): void {
    this.lastExit = { at: new Date().toISOString(), reason };
    const pid = this.pid;
    this.pid = null;
    this.child = undefined;
    this.events.event('exit', this, `pid ${pid}: ${reason}`);
    const delay = this.budget.next(Date.now(), Date.now() - this.startedAt);
    if (delay === undefined) {
      this.state = 'gave-up';
      this.events.event('gave-up', this, this.gaveUpReason());
      this.events.changed();
      return;
    }
    this.state = 'restarting';
    this.events.changed();
    void this.restartAfter(delay);
  }

  private gaveUpReason(): string {
    if (this.policy === 'never') return 'not restarted: --restart never';
    const l = this.limits;
    return `not restarted: ${l.limit} restarts within ${l.windowMs / 1000}s already`;
  }

  private async restartAfter(delayMs: number): Promise<void> {
    const ctl = new AbortController();
    this.pending = ctl;
    try {
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(resolve, delayMs);
        ctl.signal.addEventListener('abort', () => (clearTimeout(t), reject(ctl.signal.reason)), { once: true });
      });
      await this.ops.beforeRestart?.(ctl.signal);
      if (ctl.signal.aborted) return;
      this.attach(await this.ops.spawn());
    } catch (err) {
      if (ctl.signal.aborted) return;
      this.events.event('failed', this, (err as Error).message);
      this.died(`could not start: ${(err as Error).message}`);
      return;
    } finally {
      if (this.pending === ctl) this.pending = undefined;
    }
    this.restarts++;
    this.state = 'running';
    this.events.event('restart', this, `pid ${this.pid}`);
    this.events.changed();
  }

  /**
   * Stops the process for good (or before an operator's restart): no restart follows.
   * `stop` does the stopping (SIGTERM, a drain, SIGKILL after a while).
   */
  async stop(stop: (pid: number) => Promise<void>): Promise<void> {
    this.pending?.abort(new Error('stopped'));
    this.state = 'stopped';
    const pid = this.pid;
    this.pid = null;
    this.child = undefined;
    if (pid !== null) await stop(pid);
    this.events.changed();
  }

  /** An operator's restart: stop (gracefully), start again now, and forget earlier crashes. */
  async restartNow(stop: (pid: number) => Promise<void>): Promise<void> {
    await this.stop(stop);
    this.budget.reset();
    this.restarts++;
    await this.start();
  }

  /**
   * Makes sure the process runs without ever starting a second copy: a process that runs, or that
   * the supervisor is about to start again, is waited for; one the supervisor gave up on (its
   * budget, or `--restart never`) is started now, after the kind's own wait (a killed primary's
   * failover). A process stopped on purpose (scaled down, or the deployment stopping) is refused.
   * @returns whether this call started it.
   * @throws RuntimeError PROCESS_STOPPED, or NOT_RUNNING when it did not run within `timeoutMs`.
   */
  async ensureRunning(timeoutMs: number): Promise<boolean> {
    this.check();
    if (this.state === 'stopped')
      throw new RuntimeError(
        'PROCESS_STOPPED',
        `${this.name} was stopped on purpose (scaled down or stopping), not by a fault`,
        'start it with `streamctl scale` or `streamctl up`',
      );
    let started = false;
    if (this.state === 'gave-up') {
      this.state = 'starting';
      await this.ops.beforeRestart?.(AbortSignal.timeout(timeoutMs));
      this.budget.reset();
      this.restarts++;
      await this.start();
      this.events.event('restart', this, `pid ${this.pid}, to heal a fault`);
      started = true;
    }
    await waitFor(async () => (this.state === 'running' && this.pid !== null ? true : undefined), {
      timeoutMs,
      intervalMs: 50,
      onTimeout: () =>
        new RuntimeError(
          'NOT_RUNNING',
          `${this.name} is not running ${timeoutMs / 1000}s later (state ${this.state})`,
          'see `streamctl health` and the events in it',
        ),
    });
    return started;
  }

  /** The process as `health` and the control channel show it. */
  view(): SupervisedProcess {
    return {
      ...this.id,
      pid: this.pid,
      alive: this.pid !== null && this.ops.alive(this.pid),
      state: this.state,
      restarts: this.restarts,
      ...(this.lastExit ? { lastExit: this.lastExit } : {}),
    };
  }
}
