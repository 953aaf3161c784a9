import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { PieceQueue } from './piece-queue.js';
import type { Direction } from './toxic.js';
import { ChainState, runChain, type ActiveToxic } from './toxic-chain.js';

/** What a link needs from its proxy. */
export interface LinkHooks {
  /** The toxics acting on this link's direction now, in the order they were added. */
  toxics(): readonly ActiveToxic[];
  /** Bytes read from the source. */
  received(bytes: number): void;
  /** Bytes handed to the destination socket. */
  forwarded(bytes: number): void;
  /** A `limit_data` toxic is spent and what it let through is written: the connection should close. */
  limitReached(): void;
}

/**
 * The toxic queue may hold this much before the source is paused: past it the source waits, as a
 * sender on a slow real link would, instead of the proxy holding an unbounded backlog.
 */
const HIGH_WATER = 1 << 20;
/** ... and is resumed once the queue is down to this. */
const LOW_WATER = 256 << 10;

/**
 * One direction of a proxied connection: reads the source, runs each chunk through the toxics of its
 * direction, holds the pieces until they are due, and writes them to the destination in order.
 */
export class ProxyLink {
  private readonly queue = new PieceQueue();
  private readonly state = new ChainState();
  private timer: NodeJS.Timeout | undefined;
  /** dest.write() returned false: nothing more is written before 'drain'. */
  private awaitingDrain = false;
  /** The source is paused because the queue passed HIGH_WATER. */
  private pausedByQueue = false;
  private sourceEnded = false;
  /** A limit_data toxic is spent: later bytes are dropped, and the connection closes once flushed. */
  private spent = false;
  private stopped = false;

  constructor(
    readonly direction: Direction,
    private readonly source: Socket,
    private readonly dest: Socket,
    private readonly hooks: LinkHooks,
  ) {
    source.on('data', (chunk: Buffer) => this.onData(chunk));
    source.on('end', () => {
      this.sourceEnded = true;
      this.pump();
    });
    dest.on('drain', () => {
      if (!this.awaitingDrain) return;
      this.awaitingDrain = false;
      this.pump();
    });
  }

  /** Whether the source has sent its FIN (it closed cleanly, as far as this direction goes). */
  get ended(): boolean {
    return this.sourceEnded;
  }

  /** Makes everything waiting in the queue due now: a toxic that held it was removed. */
  flush(): void {
    if (this.stopped) return;
    this.queue.releaseBy(performance.now());
    this.pump();
  }

  /** Drops what is queued and stops writing (the connection is going away). */
  stop(): void {
    this.stopped = true;
    this.clearTimer();
    this.queue.clear();
  }

  private onData(chunk: Buffer): void {
    if (this.stopped || this.spent) return;
    this.hooks.received(chunk.length);
    const { pieces, close } = runChain(this.hooks.toxics(), chunk, performance.now(), this.state);
    for (const p of pieces) this.queue.push(p);
    if (close) this.spent = true;
    if (this.queue.bytes >= HIGH_WATER && !this.pausedByQueue) {
      this.pausedByQueue = true;
      this.source.pause();
    }
    this.pump();
  }

  /** Writes every piece that is due, then waits for the next due time or for 'drain'. */
  private pump(): void {
    if (this.stopped || this.awaitingDrain) return;
    this.clearTimer();
    const now = performance.now();
    for (let head = this.queue.peek(); head; head = this.queue.peek()) {
      if (head.due > now) {
        // Timers may fire a little early against performance.now(): pump checks again and re-arms.
        this.timer = setTimeout(() => this.pump(), Math.max(1, Math.ceil(head.due - now)));
        break;
      }
      if (this.dest.destroyed || !this.dest.writable) return this.stop();
      this.queue.shift();
      this.hooks.forwarded(head.data.length);
      if (!this.dest.write(head.data)) {
        this.awaitingDrain = true;
        break;
      }
    }
    if (this.pausedByQueue && this.queue.bytes <= LOW_WATER) {
      this.pausedByQueue = false;
      this.source.resume();
    }
    if (this.queue.length > 0 || this.awaitingDrain) return;
    if (this.spent) this.hooks.limitReached();
    else if (this.sourceEnded && this.dest.writable) this.dest.end();
  }

  private clearTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
