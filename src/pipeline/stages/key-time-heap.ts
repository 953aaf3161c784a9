/** A key's place in a KeyTimeHeap: its value and the event time it was last seen at. */
export interface KeyTimeNode<V> {
  key: string;
  /** The largest event time of the key's events. */
  time: number;
  value: V;
  /** Its index in the heap. */
  at: number;
}

function before<V>(a: KeyTimeNode<V>, b: KeyTimeNode<V>): boolean {
  if (a.time !== b.time) return a.time < b.time;
  return a.key < b.key;
}

/**
 * Per-key values by key, and ordered by (last event time, key): the key to evict first is always
 * on top. The order is total, so which keys go depends on the keys and their times only, never on
 * the order they were added in (a Map loaded from a Redis hash has an arbitrary order).
 */
export class KeyTimeHeap<V> {
  private items: KeyTimeNode<V>[] = [];
  private readonly byKey = new Map<string, KeyTimeNode<V>>();

  get size(): number {
    return this.items.length;
  }

  get(key: string): KeyTimeNode<V> | undefined {
    return this.byKey.get(key);
  }

  /** The key seen least recently, ties broken by key. */
  peek(): KeyTimeNode<V> | undefined {
    return this.items[0];
  }

  /** Adds a key; it must not be held yet. */
  add(key: string, time: number, value: V): KeyTimeNode<V> {
    const node: KeyTimeNode<V> = { key, time, value, at: this.items.length };
    this.byKey.set(key, node);
    this.items.push(node);
    this.up(node.at);
    return node;
  }

  /** Moves a key to a new time. */
  move(node: KeyTimeNode<V>, time: number): void {
    if (time === node.time) return;
    node.time = time;
    this.down(this.up(node.at));
  }

  pop(): KeyTimeNode<V> | undefined {
    const top = this.items[0];
    if (!top) return undefined;
    this.byKey.delete(top.key);
    const last = this.items.pop()!;
    if (this.items.length > 0) {
      this.items[0] = last;
      last.at = 0;
      this.down(0);
    }
    return top;
  }

  /** Every node, in no particular order. */
  nodes(): Iterable<KeyTimeNode<V>> {
    return this.items;
  }

  clear(): void {
    this.items = [];
    this.byKey.clear();
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
      if (!before(this.items[i]!, this.items[parent]!)) break;
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
      if (l < this.items.length && before(this.items[l]!, this.items[min]!)) min = l;
      if (r < this.items.length && before(this.items[r]!, this.items[min]!)) min = r;
      if (min === i) return;
      this.swap(i, min);
      i = min;
    }
  }
}
