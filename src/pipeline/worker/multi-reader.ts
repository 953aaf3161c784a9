import type { Redis } from 'ioredis';
import { sendCorked } from '../../redis/corked.js';
import { issueAll, type DurableOptions, type Reply, type Routed } from '../../redis/pipeline-by-node.js';

type Entry = [id: Buffer, fields: Buffer[]];

/** A partition as the reader sees it. */
export interface ReadTarget {
  /** The stream and position to read from, or undefined when it is not to be read now (marks it read). */
  nextRead(): { stream: string; from: string; generation: number } | undefined;
  /** The end of a read, with the entries that came for it (none after a timeout or an error). */
  received(generation: number, entries: Entry[] | undefined): void;
}

/**
 * Reads the streams of all a worker's partitions with one XREAD BLOCK on one connection (a single
 * Redis; in a cluster one XREAD cannot span partitions' slots). It returns as soon as any of them
 * has entries, with the entries of all that have: one write and one reply per turn of the worker
 * whatever the number of partitions, where each socket write costs about as much as a small batch.
 */
export class MultiReader {
  private busy: { targets: Set<ReadTarget> } | undefined;
  private clientId: number | undefined;
  private unblocking = false;

  constructor(
    private readonly conn: Redis,
    /** Where CLIENT UNBLOCK is sent from (the read connection itself is blocked). */
    private readonly control: Redis,
    private readonly blockMs: number,
    private readonly onRead: () => void,
  ) {
    // A reconnected connection has a new id.
    conn.on('ready', () => (this.clientId = undefined));
  }

  /**
   * Sends `commands` (a turn's commits), then a read of every target that is to be read, in one
   * socket write per turn of the worker instead of two, which at low rates is a good
   * part of a worker's CPU. The commits' replies come back first, each as it arrives; the read
   * blocks until one of the targets has entries.
   *
   * When a read is outstanding already, nothing is sent and undefined is returned (the caller sends
   * the commands elsewhere); and if a target that it does not cover wants reading (a partition just
   * taken or recovered), the outstanding read is ended early with CLIENT UNBLOCK so that the next
   * one covers it.
   * @param durable whether to WAIT for a replica after the commands (it covers every write before it
   * on the connection), and for how long.
   * @returns the commands' [error, reply], in order, once all have come.
   */
  read(
    targets: Iterable<ReadTarget>,
    count: number,
    commands: Routed[] = [],
    durable: DurableOptions = {},
  ): Promise<Reply[]> | undefined {
    if (this.busy) {
      if (!this.unblocking && this.clientId !== undefined) this.unblockFor(targets);
      return undefined;
    }
    const reads: { t: ReadTarget; stream: string; from: string; generation: number }[] = [];
    for (const t of targets) {
      const next = t.nextRead();
      if (next) reads.push({ t, ...next });
    }
    if (reads.length === 0 && commands.length === 0) return Promise.resolve([]);
    // One socket write for the commands and the read, without an ioredis pipeline (see corked.ts).
    return sendCorked(this.conn, (p) => {
      const settled = issueAll(p, commands, durable);
      if (reads.length > 0) {
        const busy = { targets: new Set(reads.map((r) => r.t)) };
        this.busy = busy;
        const done = (reply: [Buffer, Entry[]][] | null | undefined) => {
          const got = new Map((reply ?? []).map(([stream, entries]) => [stream.toString(), entries]));
          for (const r of reads) r.t.received(r.generation, got.get(r.stream));
          if (this.busy === busy) this.busy = undefined;
          this.unblocking = false;
          this.onRead();
        };
        // The id that CLIENT UNBLOCK needs, in the same write the first time.
        if (this.clientId === undefined) {
          p.client('ID', (err, id) => {
            if (!err) this.clientId = Number(id);
          });
        }
        p.xreadBuffer(
          'COUNT',
          count,
          'BLOCK',
          this.blockMs,
          'STREAMS',
          ...reads.map((r) => r.stream),
          ...reads.map((r) => r.from),
          (err, reply) => done(err ? null : (reply as [Buffer, Entry[]][] | null)),
        );
      }
      return settled;
    });
  }

  /** Ends the outstanding read early when a target wants reading that it does not cover. */
  private unblockFor(targets: Iterable<ReadTarget>): void {
    for (const t of targets) {
      if (this.busy!.targets.has(t)) continue;
      const next = t.nextRead();
      if (!next) continue;
      // Not covered: give it back unread, and cut the outstanding read short.
      t.received(next.generation, undefined);
      this.unblocking = true;
      // 0: the read was not blocked yet (it was on its way); a later turn tries again.
      this.control.call('CLIENT', 'UNBLOCK', this.clientId!).then(
        (n) => {
          if (Number(n) === 0) this.unblocking = false;
        },
        () => (this.unblocking = false),
      );
      return;
    }
  }

  close(): void {
    this.conn.disconnect();
  }
}
