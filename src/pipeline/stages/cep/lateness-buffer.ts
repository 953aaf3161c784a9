import { cmpStr, type CepEvent } from './event.js';

/** An accepted event waiting for the watermark. */
export interface Pending {
  e: CepEvent;
  /** Indexes of the rules the event came too late for. */
  skip: number[];
}

/** The `skip` of the events late for no rule, almost all of them: one shared empty list instead of one each. */
export const NO_SKIP: number[] = [];

/** What a released slot holds until it is reclaimed. */
const RELEASED: Pending = { e: { id: '', key: '', time: -Infinity, type: '', value: 0 }, skip: NO_SKIP };

/**
 * The events accepted and not yet evaluated, kept in (time, id) order as they come so that a batch
 * releases a prefix without sorting the whole buffer (it holds the last `lateness` of events:
 * thousands). The engine takes them one at a time because it evaluates absence deadlines between
 * them.
 */
export class LatenessBuffer {
  /** Waiting events in (time, id) order; those before `head` are released. */
  private items: Pending[] = [];
  private head = 0;

  /** Events waiting for the watermark. */
  get size(): number {
    return this.items.length - this.head;
  }

  /**
   * Where an event goes. Events come almost in time order, so the place is nearly always the end;
   * equal (time, id) would go after the ones there, as a stable sort puts them.
   * @returns the index, or -1 when an event with the same (time, id) is waiting (a repeat).
   */
  place(time: number, id: string): number {
    const items = this.items;
    const after = (a: Pending) => a.e.time > time || (a.e.time === time && cmpStr(a.e.id, id) > 0);
    let lo = items.length;
    if (lo > this.head && after(items[lo - 1]!)) {
      lo = this.head;
      let hi = items.length - 1;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (after(items[mid]!)) hi = mid;
        else lo = mid + 1;
      }
    }
    const prev = lo > this.head ? items[lo - 1]!.e : undefined;
    return prev && prev.time === time && prev.id === id ? -1 : lo;
  }

  /** Puts an event at the index `place` gave (nothing for -1, a repeat). */
  insert(at: number, p: Pending): void {
    if (at === this.items.length) this.items.push(p);
    else if (at >= 0) this.items.splice(at, 0, p);
  }

  /**
   * Takes out the first waiting event if its time is before `watermark`. The caller calls `compact`
   * once it has taken what it releases.
   * @returns the event, or undefined when none is before `watermark`.
   */
  takeBefore(watermark: number): Pending | undefined {
    const items = this.items;
    const at = this.head;
    if (at >= items.length) return undefined;
    const p = items[at]!;
    if (!(p.e.time < watermark)) return undefined;
    // Released events are not held: the slots before `head` are reclaimed in bulk by `compact`.
    items[at] = RELEASED;
    this.head = at + 1;
    return p;
  }

  /** Reclaims the released slots once they are many and over half of the buffer. */
  compact(): void {
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }

  /** A copy of the waiting events, in (time, id) order. */
  waiting(): Pending[] {
    return this.items.slice(this.head);
  }

  clear(): void {
    this.items = [];
    this.head = 0;
  }
}
