declare module 'autocannon' {
  // Only what streamctl uses of autocannon 9 (its own package has no types; @types/autocannon
  // describes version 7).
  import type { EventEmitter } from 'node:events';

  export interface Request {
    method?: string;
    path?: string;
    headers?: Record<string, string>;
    body?: string | Buffer;
  }

  export interface Options {
    url: string;
    /** Concurrent connections (split over `workers` when set). */
    connections?: number;
    /** Seconds. */
    duration?: number;
    method?: string;
    headers?: Record<string, string>;
    /** Cycled through, in order, by every connection. */
    requests?: Request[];
    /** Worker threads firing the requests; 0 runs in the calling thread. */
    workers?: number;
    /** Per request, seconds. */
    timeout?: number;
    pipelining?: number;
  }

  /** A histogram summary: milliseconds for latency, counts per second for requests. */
  export interface Histogram {
    mean: number;
    stddev: number;
    min: number;
    max: number;
    p50: number;
    p90: number;
    p97_5: number;
    p99: number;
    p99_9: number;
    total?: number;
  }

  export interface Result {
    /** Seconds, measured. */
    duration: number;
    connections: number;
    errors: number;
    timeouts: number;
    non2xx: number;
    resets: number;
    '1xx': number;
    '2xx': number;
    '3xx': number;
    '4xx': number;
    '5xx': number;
    statusCodeStats: Record<string, { count: number }>;
    /** Latency of the 2xx responses and errors, in ms. */
    latency: Histogram & { totalCount: number };
    /** Requests completed per sample interval; `total` is the completed count, `sent` the sent count. */
    requests: Histogram & { total: number; sent: number };
  }

  export interface Instance extends EventEmitter, PromiseLike<Result> {
    stop(): void;
  }

  function autocannon(options: Options): Instance;
  export default autocannon;
}
