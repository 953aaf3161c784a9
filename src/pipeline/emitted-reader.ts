import type { Cluster, Redis } from 'ioredis';
import { decodeEntry } from './codec.js';
import type { Keys } from './keys.js';

type Entry = [Buffer, Buffer[]];

/** Entries read per partition and call when following. */
const PAGE = 1000;

/**
 * Reads the JSON events that stages emitted to a stream of every partition (cep's `alerts`), in
 * event-time order across partitions: first the newest ones, then, call after call, those that
 * came since. Entries that are not JSON event batches of ours are skipped.
 */
export class EmittedReader {
  /** The last entry id read, per partition. */
  private readonly last: string[];

  constructor(
    private readonly client: Redis | Cluster,
    private readonly keys: Keys,
    private readonly stream: string,
  ) {
    this.last = new Array<string>(keys.partitions).fill('-');
  }

  /** The newest `limit` events of each partition, oldest first. */
  newest(limit: number): Promise<Record<string, unknown>[]> {
    return this.collect(async (key) =>
      ((await this.client.xrevrangeBuffer(key, '+', '-', 'COUNT', limit)) as Entry[]).reverse(),
    );
  }

  /** The events that came since the last call. */
  next(): Promise<Record<string, unknown>[]> {
    return this.collect(
      async (key, k) =>
        (await this.client.xrangeBuffer(
          key,
          this.last[k] === '-' ? '-' : `(${this.last[k]}`,
          '+',
          'COUNT',
          PAGE,
        )) as Entry[],
    );
  }

  private async collect(read: (key: string, k: number) => Promise<Entry[]>): Promise<Record<string, unknown>[]> {
    const out: Record<string, unknown>[] = [];
    for (let k = 0; k < this.keys.partitions; k++) {
      for (const [id, fields] of await read(this.keys.stream(k, this.stream), k)) {
        this.last[k] = id.toString();
        try {
          for (const e of decodeEntry(fields)) out.push(JSON.parse(e.data.toString()) as Record<string, unknown>);
        } catch {
          // not a batch of JSON events of ours
        }
      }
    }
    return out.sort((a, b) => Number(a.time ?? 0) - Number(b.time ?? 0));
  }
}
