/** An item of an IndexedHeap: it carries its own index, so that it can be moved or removed in place. */
export interface HeapItem {
  at: number;
}

/**
 * A binary min-heap whose items know their index: an item whose order key changed moves in
 * O(log n), and any item can be removed, without a search. The order is the caller's `before`.
 */
export class IndexedHeap<T extends HeapItem> {
  private items: T[] = [];

  constructor(private readonly before: (a: T, b: T) => boolean) {}

  get size(): number {
    return this.items.length;
  }

  peek(): T | undefined {
    return this.items[0];
  }

  push(item: T): void {
    item.at = this.items.length;
    this.items.push(item);
    this.up(item.at);
  }

  pop(): T | undefined {
    const top = this.items[0];
    if (top) this.remove(top);
    return top;
  }

  /** Removes an item held by this heap. */
  remove(item: T): void {
    const last = this.items.pop()!;
    if (last === item) return;
    this.items[item.at] = last;
    last.at = item.at;
    this.moved(last);
  }

  /** Restores the order after `item`'s order key changed. */
  moved(item: T): void {
    this.down(this.up(item.at));
  }

  /** Every item, in no particular order. */
  all(): Iterable<T> {
    return this.items;
  }

  clear(): void {
    this.items = [];
  }

  private swap(i: number, j: number): void {
    const a = this.items[i]!;
    const b = this.items[j]!;
    this.items[i] = b;
    this.items[j] = a;
    b.at = i;
    a.at = j;
  }

  private up(i: number): number {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(this.items[i]!, this.items[parent]!)) break;
      this.swap(i, parent);
      i = parent;
    }
    return i;
  }

  private down(i: number): void {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let min = i;
      if (l < this.items.length && this.before(this.items[l]!, this.items[min]!)) min = l;
      if (r < this.items.length && this.before(this.items[r]!, this.items[min]!)) min = r;
      if (min === i) return;
      this.swap(i, min);
      i = min;
    }
  }
}
