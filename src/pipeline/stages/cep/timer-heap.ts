import { IndexedHeap } from '../indexed-heap.js';

/** An absence deadline: rule `rule` fires for `key` at `due` unless an event of the key moves it. */
export interface Timer {
  due: number;
  /** The rule's index. */
  rule: number;
  key: string;
  /** Its index in the heap. */
  at: number;
}

function timerBefore(a: Timer, b: Timer): boolean {
  if (a.due !== b.due) return a.due < b.due;
  if (a.rule !== b.rule) return a.rule < b.rule;
  return a.key < b.key;
}

/** A min-heap of absence deadlines, at most one per rule+key, ordered by (due, rule, key). */
export class TimerHeap {
  private readonly heap = new IndexedHeap<Timer>(timerBefore);
  /** Each rule's timers by key: a deadline moves on every event of its key, so finding it is on the hot path. */
  private byRule = new Map<number, Map<string, Timer>>();

  get size(): number {
    return this.heap.size;
  }

  peek(): Timer | undefined {
    return this.heap.peek();
  }

  /** Adds or moves the deadline of rule+key. */
  set(rule: number, key: string, due: number): void {
    let keys = this.byRule.get(rule);
    if (!keys) this.byRule.set(rule, (keys = new Map()));
    const t = keys.get(key);
    if (t === undefined) {
      const added: Timer = { due, rule, key, at: 0 };
      keys.set(key, added);
      this.heap.push(added);
      return;
    }
    t.due = due;
    this.heap.moved(t);
  }

  pop(): Timer | undefined {
    const top = this.heap.pop();
    if (top) this.byRule.get(top.rule)!.delete(top.key);
    return top;
  }

  /** Removes the deadline of rule+key, if any. */
  remove(rule: number, key: string): void {
    const keys = this.byRule.get(rule);
    const t = keys?.get(key);
    if (!keys || !t) return;
    keys.delete(key);
    this.heap.remove(t);
  }

  clear(): void {
    this.heap.clear();
    this.byRule.clear();
  }
}
