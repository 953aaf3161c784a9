import type { Cluster, Redis } from 'ioredis';
import { DEGRADED, type LookupResult } from '../stage.js';
import { CircuitBreaker, type BreakerState } from './breaker.js';
import { LruCache } from './lru.js';

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
  cacheSize?: number;
  ttlMs?: number;
  /** A lookup slower than this counts as a failure. */
  timeoutMs?: number;
  failures?: number;
  openMs?: number;
}

/**
 * Two-level lookup of reference data in a Redis hash: an in-process LRU with TTL in front of
 * HMGET, and a circuit breaker around HMGET so that a failing or slow Redis makes events flow
 * marked degraded instead of stalling the stage.
 */
export class HashLookup {
  readonly stats: LookupStats = { hits: 0, misses: 0, degraded: 0, failures: 0, breaker: 'closed', breakerOpened: 0 };
  private readonly cache: LruCache<string | null>;
  private readonly breaker: CircuitBreaker;

  constructor(
    private readonly client: Redis | Cluster,
    private readonly hash: string,
    private readonly o: LookupOptions = {},
  ) {
    this.cache = new LruCache(o.cacheSize ?? 10_000, o.ttlMs ?? 60_000);
    this.breaker = new CircuitBreaker({ failures: o.failures ?? 3, openMs: o.openMs ?? 1000 });
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
    const ms = this.o.timeoutMs ?? 250;
    let timer: NodeJS.Timeout;
    return Promise.race([
      p.finally(() => clearTimeout(timer)),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`lookup slower than ${ms} ms`)), ms);
      }),
    ]);
  }
}
