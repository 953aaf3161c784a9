import type { Piece } from './toxic-chain.js';

/**
 * A FIFO of pieces waiting for their due time, with its size in bytes. A slicer can queue tens of
 * thousands of tiny pieces, so taking from the front must not shift the whole array each time.
 */
export class PieceQueue {
  private items: Piece[] = [];
  private head = 0;
  private size = 0;

  /** Bytes waiting. */
  get bytes(): number {
    return this.size;
  }

  get length(): number {
    return this.items.length - this.head;
  }

  push(p: Piece): void {
    this.items.push(p);
    this.size += p.data.length;
  }

  peek(): Piece | undefined {
    return this.items[this.head];
  }

  shift(): Piece | undefined {
    const p = this.items[this.head];
    if (!p) return undefined;
    this.items[this.head++] = undefined as unknown as Piece;
    this.size -= p.data.length;
    // Compact once the taken slots are most of the array; amortized O(1) per piece.
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return p;
  }

  /** Makes every waiting piece due by `now` at the latest, keeping their order. */
  releaseBy(now: number): void {
    for (let i = this.head; i < this.items.length; i++) {
      const p = this.items[i]!;
      if (p.due > now) p.due = now;
    }
  }

  clear(): void {
    this.items = [];
    this.head = 0;
    this.size = 0;
  }
}
