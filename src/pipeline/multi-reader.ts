import type { Redis } from 'ioredis';

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
   * Starts a read of every target that is to be read, unless one is outstanding: then, if a target
   * that it does not cover wants reading (a partition just taken or recovered), the outstanding
   * read is ended early with CLIENT UNBLOCK so that the next one covers it.
   */
  read(targets: Iterable<ReadTarget>, count: number): void {
    if (this.busy) {
      if (this.unblocking || this.clientId === undefined) return;
      for (const t of targets) {
        if (this.busy.targets.has(t)) continue;
        const next = t.nextRead();
        if (!next) continue;
        // Not covered: give it back unread, and cut the outstanding read short.
        t.received(next.generation, undefined);
        this.unblocking = true;
        // 0: the read was not blocked yet (it was on its way); a later turn tries again.
        this.control.call('CLIENT', 'UNBLOCK', this.clientId).then(
          (n) => {
            if (Number(n) === 0) this.unblocking = false;
          },
          () => (this.unblocking = false),
        );
        return;
      }
      return;
    }
    const reads: { t: ReadTarget; stream: string; from: string; generation: number }[] = [];
    for (const t of targets) {
      const next = t.nextRead();
      if (next) reads.push({ t, ...next });
    }
    if (reads.length === 0) return;
    const busy = { targets: new Set(reads.map((r) => r.t)) };
    this.busy = busy;
    const done = (reply: [Buffer, Entry[]][] | null) => {
      const got = new Map((reply ?? []).map(([stream, entries]) => [stream.toString(), entries]));
      for (const r of reads) r.t.received(r.generation, got.get(r.stream));
      if (this.busy === busy) this.busy = undefined;
      this.unblocking = false;
      this.onRead();
    };
    void this.ensureId()
      .then(() => this.conn.xreadBuffer('COUNT', count, 'BLOCK', this.blockMs, 'STREAMS', ...reads.map((r) => r.stream), ...reads.map((r) => r.from)))
      .then(
        (reply) => done(reply as [Buffer, Entry[]][] | null),
        () => done(null),
      );
  }

  private async ensureId(): Promise<void> {
    this.clientId ??= Number(await this.conn.client('ID'));
  }

  close(): void {
    this.conn.disconnect();
  }
}
