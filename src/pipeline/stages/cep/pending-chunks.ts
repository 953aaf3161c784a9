import { ByteWriter } from '../state-bytes.js';
import { ChunkHeap } from './chunk-heap.js';
import type { CepEvent } from './event.js';
import { beginChunk, finishChunk, writePending } from './state-codec.js';

/** The prefix of a chunk entry's name, `p:<n>`. */
export const CHUNK_PREFIX = 'p:';

/**
 * The lateness buffer as entries of entry state. The events accepted by one `process` call become
 * one chunk entry, unless the watermark has passed them all already; chunks whose events it has all
 * passed are dropped. What is pending is exactly the chunks' events at or after the watermark (an
 * accepted event is never below it, and leaves the buffer only when the watermark passes it), so a
 * chunk never needs rewriting.
 */
export class PendingChunks {
  /** The events accepted by the current call. */
  private readonly chunk = new ByteWriter(4096);
  private chunkEvents = 0;
  private chunkMax = -Infinity;
  /** Committed chunks, by number, with the largest event time in each. */
  private readonly chunks = new ChunkHeap();
  /** The number of the next chunk: kept in the counters entry, so that a number is never reused. */
  next = 0;
  private writes: [string, Buffer][] = [];

  /**
   * Writes an accepted event into the chunk of the current call.
   * @param late the names of the rules it was late for, sorted
   */
  add(e: CepEvent, late: readonly string[]): void {
    if (this.chunkEvents === 0) beginChunk(this.chunk);
    writePending(this.chunk, e, late);
    this.chunkEvents++;
    if (e.time > this.chunkMax) this.chunkMax = e.time;
  }

  /** Ends the chunk of the current call; adds to `deletes` the names of the chunks `watermark` has passed. */
  close(watermark: number, deletes: string[]): void {
    if (this.chunkEvents > 0) {
      const entry = finishChunk(this.chunk, this.chunkEvents);
      if (this.chunkMax >= watermark) {
        const n = this.next++;
        this.chunks.add(n, this.chunkMax);
        this.writes.push([`${CHUNK_PREFIX}${n}`, entry]);
      }
      this.chunkEvents = 0;
      this.chunkMax = -Infinity;
    }
    this.chunks.popBelow(watermark, (n) => deletes.push(`${CHUNK_PREFIX}${n}`));
  }

  /** Holds a committed chunk again, read from its entry. */
  loaded(n: number, maxTime: number): void {
    this.chunks.add(n, maxTime);
  }

  /** The chunk entries written since the last call. */
  takeWrites(): [string, Buffer][] {
    const writes = this.writes;
    this.writes = [];
    return writes;
  }

  clear(): void {
    this.chunk.take();
    this.chunkEvents = 0;
    this.chunkMax = -Infinity;
    this.chunks.clear();
    this.next = 0;
    this.writes = [];
  }
}
