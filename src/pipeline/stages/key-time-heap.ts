import { IndexedHeap } from './indexed-heap.js';

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
  private readonly heap = new IndexedHeap<KeyTimeNode<V>>(before);
  private readonly byKey = new Map<string, KeyTimeNode<V>>();

  get size(): number {
    return this.heap.size;
  }

  get(key: string): KeyTimeNode<V> | undefined {
    return this.byKey.get(key);
  }

  /** The key seen least recently, ties broken by key. */
  peek(): KeyTimeNode<V> | undefined {
    return this.heap.peek();
  }

  /** Adds a key; it must not be held yet. */
  add(key: string, time: number, value: V): KeyTimeNode<V> {
    const node: KeyTimeNode<V> = { key, time, value, at: 0 };
    this.byKey.set(key, node);
    this.heap.push(node);
    return node;
  }

  /** Moves a key to a new time. */
  move(node: KeyTimeNode<V>, time: number): void {
    if (time === node.time) return;
    node.time = time;
    this.heap.moved(node);
  }

  pop(): KeyTimeNode<V> | undefined {
    const top = this.heap.pop();
    if (top) this.byKey.delete(top.key);
    return top;
  }

  /** Every node, in no particular order. */
  nodes(): Iterable<KeyTimeNode<V>> {
    return this.heap.all();
  }

  clear(): void {
    this.heap.clear();
    this.byKey.clear();
  }
}
