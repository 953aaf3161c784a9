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
  private items: Timer[] = [];
  /** Each rule's timers by key: a deadline moves on every event of its key, so finding it is on the hot path. */
  private byRule = new Map<number, Map<string, Timer>>();

  get size(): number {
    return this.items.length;
  }

  peek(): Timer | undefined {
    return this.items[0];
  }

  /** Adds or moves the deadline of rule+key. */
  set(rule: number, key: string, due: number): void {
    let keys = this.byRule.get(rule);
    if (!keys) this.byRule.set(rule, (keys = new Map()));
    const t = keys.get(key);
    if (t === undefined) {
      const added: Timer = { due, rule, key, at: this.items.length };
      keys.set(key, added);
      this.items.push(added);
      this.up(added.at);
      return;
    }
    t.due = due;
    this.down(this.up(t.at));
  }

  pop(): Timer | undefined {
    const top = this.items[0];
    if (!top) return undefined;
    this.byRule.get(top.rule)!.delete(top.key);
    const last = this.items.pop()!;
    if (this.items.length > 0) {
      this.items[0] = last;
      last.at = 0;
      this.down(0);
    }
    return top;
  }

  /** Removes the deadline of rule+key, if any. */
  remove(rule: number, key: string): void {
    const keys = this.byRule.get(rule);
    const t = keys?.get(key);
    if (!keys || !t) return;
    keys.delete(key);
    const last = this.items.pop()!;
    if (last === t) return;
    this.items[t.at] = last;
    last.at = t.at;
    this.down(this.up(last.at));
  }

  clear(): void {
    this.items = [];
    this.byRule.clear();
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
      if (!timerBefore(this.items[i]!, this.items[parent]!)) break;
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
      if (l < this.items.length && timerBefore(this.items[l]!, this.items[min]!)) min = l;
      if (r < this.items.length && timerBefore(this.items[r]!, this.items[min]!)) min = r;
      if (min === i) return;
      this.swap(i, min);
      i = min;
    }
  }
}
