/**
 * A first-in first-out buffer taken from the front a batch at a time, in amortised constant time
 * per item: `Array#splice` from the front moves every item behind the batch, which made a
 * producer with a deep buffer spend much of its time moving events.
 */
export class BatchQueue<T> {
  private items: T[] = [];
  private head = 0;

  /** Items buffered. */
  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  /** Removes and returns up to `n` items from the front, oldest first. */
  take(n: number): T[] {
    const out = this.items.slice(this.head, this.head + n);
    this.head += out.length;
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      // Drops the taken front once it is at least half the array: each item is copied at most once more.
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return out;
  }

  /** Removes and returns every item. */
  takeAll(): T[] {
    return this.take(this.length);
  }
}
