import type { Cluster, Redis } from 'ioredis';
import type { StreamEvent } from '../codec.js';
import type { StateWrite } from '../scripts/commit.js';
import type { Stage, StageContext, StageFactory, StageServices } from '../stage.js';
import { errorText } from './entries.js';

export interface StageRunnerOptions {
  factory: StageFactory;
  params: Record<string, unknown>;
  stage: string;
  partition: number;
  namespace: string;
  services: StageServices;
  /** Where the committed state is read from. */
  client: Redis | Cluster;
  stateKey: string;
}

/** The outputs of a batch run event by event, and the events that failed. */
export interface Isolated {
  outputs: StreamEvent[];
  failed: { event: StreamEvent; error: string }[];
}

/**
 * The stage instance of one partition, with its context and state: the state is loaded when the
 * partition is taken, rolled back after a failed batch, and written by each commit. The stage never
 * sees Redis: reading the committed state is done here, writing it is the commit's.
 */
export class StageRunner {
  private readonly stage: Stage;
  readonly ctx: StageContext;
  /** A whole-state stage's last committed snapshot: what a rollback restores. */
  private committedState: Buffer | undefined;
  /** Events emitted to other streams during the current batch, by stream name. */
  private emitted = new Map<string, StreamEvent[]>();

  constructor(private readonly o: StageRunnerOptions) {
    this.stage = o.factory(o.params);
    this.ctx = {
      stage: o.stage,
      partition: o.partition,
      namespace: o.namespace,
      params: o.params,
      emit: (stream, events) => {
        const list = this.emitted.get(stream);
        if (list) list.push(...events);
        else this.emitted.set(stream, [...events]);
      },
      services: o.services,
    };
  }

  /** Initializes the stage and loads its committed state. */
  async open(): Promise<void> {
    await this.stage.init?.(this.ctx);
    await this.load();
  }

  /** Replaces the stage's state with the committed one (the truth after a commit of unknown outcome). */
  async load(): Promise<void> {
    if (this.stage.state) {
      const entries = await this.o.client.hgetallBuffer(this.o.stateKey);
      const names = Object.keys(entries);
      this.stage.state.load(names.length ? new Map(names.map((n) => [n, entries[n]!])) : undefined, this.ctx);
      return;
    }
    if (!this.stage.restore) return;
    const state = (await this.o.client.getBuffer(this.o.stateKey)) ?? undefined;
    this.committedState = state;
    this.stage.restore(state, this.ctx);
  }

  /** Back to the last committed state: kept in memory for snapshots, read again for entry state. */
  async rollback(): Promise<void> {
    if (this.stage.state) await this.load();
    else this.stage.restore?.(this.committedState, this.ctx);
  }

  /**
   * Runs the stage on one batch; the batch's emitted events start afresh. A throw is the stage's:
   * the caller rolls the state back (see `rollback`) and the emitted events are dropped.
   */
  async process(events: StreamEvent[]): Promise<StreamEvent[]> {
    this.emitted = new Map();
    try {
      return events.length ? await this.stage.process(events, this.ctx) : [];
    } catch (err) {
      this.emitted = new Map();
      throw err;
    }
  }

  /**
   * Runs the stage event by event (a poisoned entry), keeping the state and emitted events of the
   * events that pass and none of those that fail.
   */
  async isolate(events: StreamEvent[]): Promise<Isolated> {
    const outputs: StreamEvent[] = [];
    const failed: Isolated['failed'] = [];
    this.emitted = new Map();
    const passed: StreamEvent[] = [];
    for (const e of events) {
      const before = this.stage.state ? undefined : this.stage.snapshot?.(this.ctx);
      const marks = new Map([...this.emitted].map(([k, v]) => [k, v.length]));
      try {
        outputs.push(...(await this.stage.process([e], this.ctx)));
        passed.push(e);
      } catch (err) {
        failed.push({ event: e, error: errorText(err) });
        if (this.stage.state) {
          // Entry state cannot be copied cheaply: back to the committed state, then the events
          // that went through, again, one by one as before.
          await this.rollback();
          this.emitted = new Map();
          outputs.length = 0;
          for (const p of passed) outputs.push(...(await this.stage.process([p], this.ctx)));
        } else {
          this.stage.restore?.(before === undefined ? undefined : Buffer.from(before), this.ctx);
          for (const [stream, list] of this.emitted) list.length = marks.get(stream) ?? 0;
        }
      }
    }
    return { outputs, failed };
  }

  /**
   * Takes what the batch just processed emitted to other streams, and its state write. A snapshot
   * becomes the rollback point once its commit lands (`committed`).
   */
  finishBatch(): {
    emitted: Map<string, StreamEvent[]>;
    emittedCount: number;
    state: StateWrite;
    snapshot: Buffer | undefined;
  } {
    const emitted = this.emitted;
    this.emitted = new Map();
    let emittedCount = 0;
    for (const l of emitted.values()) emittedCount += l.length;
    if (this.stage.state) {
      const { set, del } = this.stage.state.changes(this.ctx);
      return { emitted, emittedCount, state: { op: 'hash', set, del }, snapshot: undefined };
    }
    const snap = this.stage.snapshot?.(this.ctx);
    if (snap === undefined)
      return { emitted, emittedCount, state: { op: this.stage.snapshot ? 'del' : 'keep' }, snapshot: undefined };
    return {
      emitted,
      emittedCount,
      state: { op: 'set', value: snap },
      snapshot: Buffer.isBuffer(snap) ? snap : Buffer.from(snap),
    };
  }

  /** A commit with this snapshot landed: it is the state a rollback returns to. */
  committed(snapshot: Buffer | undefined): void {
    if (snapshot !== undefined) this.committedState = snapshot;
  }
}
