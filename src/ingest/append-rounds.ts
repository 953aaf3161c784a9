import type { Producer } from '../pipeline/producer.js';
import type { ParsedEvent } from './parse-events.js';

/** What became of one request's events: the seqs they were given, and how many were given up. */
export interface Appended {
  first: number;
  last: number;
  failed: number;
}

interface Pending {
  events: ParsedEvent[];
  /** The caller's W3C traceparent, when it sent one and tracing is on. */
  traceparent: string | undefined;
  resolve: (r: Appended) => void;
}

/**
 * Appends the events of requests through one producer, in rounds, so that a request is answered
 * only once its events are appended or given up (a 202 always means appended). Each round sends
 * the events of every request queued so far, then waits for the producer to be idle (flushAll).
 * Nothing is sent during a round's flush, so flushAll always ends, and when it does every event of
 * the round is acked or given up; requests that come meanwhile make the next round.
 */
export class RoundAppender {
  private readonly queue: Pending[] = [];
  private pumping: Promise<void> | undefined;

  constructor(private readonly producer: Producer) {}

  /** Queues the events for the next round; resolves when that round is appended. */
  append(events: ParsedEvent[], traceparent?: string): Promise<Appended> {
    return new Promise<Appended>((resolve) => {
      this.queue.push({ events, traceparent, resolve });
      this.pumping ??= this.pump().finally(() => (this.pumping = undefined));
    });
  }

  private async pump(): Promise<void> {
    const { producer, queue } = this;
    while (queue.length > 0) {
      const round = queue.splice(0);
      const ranges = round.map((p) => {
        const first = producer.last + 1;
        const ts = Date.now();
        for (const e of p.events) producer.send(e.key, e.data, ts, p.traceparent);
        return { first, last: producer.last };
      });
      await producer.flushAll();
      round.forEach((p, i) => {
        const { first, last } = ranges[i]!;
        let failed = 0;
        for (const [a, b] of producer.stats.failedRanges)
          failed += Math.max(0, Math.min(b, last) - Math.max(a, first) + 1);
        p.resolve({ first, last, failed });
      });
    }
  }
}
