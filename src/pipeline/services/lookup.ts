import type { Cluster, Redis } from 'ioredis';
import { DEGRADED, type LookupResult } from '../stage.js';
import { CircuitBreaker, type BreakerState } from './breaker.js';
import { LruCache } from './lru.js';
import { withDefaults } from '../../defaults.js';

export interface LookupStats {
  hits: number;
  misses: number;
  /** Fields answered without Redis because the breaker was open or the lookup failed. */
  degraded: number;
  failures: number;
  breaker: BreakerState;
  breakerOpened: number;
}

export interface LookupOptions {
  /** Fields the in-process cache holds. */
  cacheSize?: number;
  /** How long a cached field is used. */
  ttlMs?: number;
  /** A lookup slower than this counts as a failure. */
  timeoutMs?: number;
  /** Consecutive failed lookups that open the breaker. */
  failures?: number;
  /** How long the breaker stays open before one lookup probes Redis again. */
  openMs?: number;
  /** The clock of the cache and the breaker (default Date.now). */
  now?: () => number;
}

/** The defaults of the lookup's settings. */
const LOOKUP_DEFAULTS = {
  cacheSize: 10_000,
  ttlMs: 60_000,
  timeoutMs: 250,
  failures: 3,
  openMs: 1000,
  now: Date.now,
} as const;

/**
 * Two-level lookup of reference data in a Redis hash: an in-process LRU with TTL in front of
 * HMGET, and a circuit breaker around HMGET so that a failing or slow Redis makes events flow
 * marked degraded instead of stalling the stage.
 */
export class HashLookup {
  readonly stats: LookupStats = { hits: 0, misses: 0, degraded: 0, failures: 0, breaker: 'closed', breakerOpened: 0 };
  private readonly o: Required<LookupOptions>;
  private readonly cache: LruCache<string | null>;
  private readonly breaker: CircuitBreaker;

  constructor(
    private readonly client: Redis | Cluster,
    private readonly hash: string,
    options: LookupOptions = {},
  ) {
    const o = (this.o = withDefaults<Required<LookupOptions>>(LOOKUP_DEFAULTS, options));
    this.cache = new LruCache(o.cacheSize, o.ttlMs, o.now);
    this.breaker = new CircuitBreaker({ failures: o.failures, openMs: o.openMs, now: o.now });
  }

  /** Looks up distinct fields: the cache first, then one HMGET for the misses. */
  async get(fields: Iterable<string>): Promise<LookupResult> {
    const out: LookupResult = new Map();
    const misses: string[] = [];
    for (const f of new Set(fields)) {
      const v = this.cache.get(f);
      if (v !== undefined) {
        out.set(f, v);
        this.stats.hits++;
      } else misses.push(f);
    }
    if (misses.length === 0) return out;
    this.stats.misses += misses.length;
    if (this.breaker.allow()) {
      try {
        const values = await this.withTimeout(this.client.hmget(this.hash, ...misses));
        misses.forEach((f, i) => {
          const v = values[i] ?? null;
          this.cache.set(f, v);
          out.set(f, v);
        });
        this.breaker.success();
        this.sync();
        return out;
      } catch {
        this.stats.failures++;
        this.breaker.failure();
      }
    }
    for (const f of misses) out.set(f, DEGRADED);
    this.stats.degraded += misses.length;
    this.sync();
    return out;
  }

  private sync(): void {
    this.stats.breaker = this.breaker.state;
    this.stats.breakerOpened = this.breaker.opened;
  }

  private withTimeout<T>(p: Promise<T>): Promise<T> {
    const ms = this.o.timeoutMs;
    let timer: NodeJS.Timeout;
    return Promise.race([
      p.finally(() => clearTimeout(timer)),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`lookup slower than ${ms} ms`)), ms);
      }),
    ]);
  }
}
