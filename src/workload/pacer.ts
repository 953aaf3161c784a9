import { setImmediate as yieldNow } from 'node:timers/promises';
import type { Producer } from '../pipeline/producer.js';
import type { EventSource } from './event-source.js';

export interface PaceOptions {
  producer: Producer;
  source: EventSource;
  /** Events per second; 0 = as fast as the producer takes them. */
  rate: number;
  total: number;
  durationMs?: number | undefined;
  signal: AbortSignal;
  /** Called about every loop turn (e.g. to save progress). */
  onTick?: (now: number) => Promise<void> | void;
}

/**
 * Sends events open loop: event i is due at start + i / rate, and carries that intended time as its
 * timestamp, so a stall shows up as latency instead of silently slowing the load (no coordinated
 * omission). Waits for the producer only when its backlog is over the high-water mark.
 * @returns how many events were handed to the producer.
 */
export async function sendOpenLoop(o: PaceOptions): Promise<number> {
  // The schedule's wall-clock origin, to the microsecond: Date.now() truncates to the millisecond,
  // which would date every intended send time up to 1 ms early (0.5 ms on average) and inflate
  // every latency measured from it. Starting on the tick of the millisecond makes them agree.
  const tick = Date.now();
  let wall0 = tick;
  while (wall0 === tick) wall0 = Date.now();
  const t0 = performance.now();
  const deadline = o.durationMs !== undefined ? t0 + o.durationMs : Infinity;
  let i = 0;
  while (i < o.total && !o.signal.aborted && performance.now() < deadline) {
    const now = performance.now();
    const due =
      o.rate > 0 ? Math.min(o.total, Math.floor(((now - t0) * o.rate) / 1000) + 1) : Math.min(o.total, i + 2000);
    for (; i < due; i++) {
      const e = await o.source.next();
      if (!e) return i;
      o.producer.send(e.key, e.data, o.rate > 0 ? wall0 + (i * 1000) / o.rate : Date.now());
    }
    if (o.producer.backlog >= o.producer.highWater) await o.producer.drain();
    else if (o.rate > 0) await new Promise((r) => setTimeout(r, 1));
    else await yieldNow();
    await o.onTick?.(now);
  }
  return i;
}
