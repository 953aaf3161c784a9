import type { Cluster, Redis } from 'ioredis';

/**
 * Entries counted at most when Redis cannot tell a group's lag: beyond it the count stops and the
 * lag reads as this many, enough for every caller (a drain check, backpressure, a dashboard) to see
 * that the group is behind without reading a long stream on every call.
 */
export const LAG_COUNT_LIMIT = 100_000;

const PAGE = 1000;

/**
 * A group this close to the end of its stream has its entries counted, not taken from Redis's
 * `lag`: after restarts from a rewritten AOF (and the failovers that follow), `entries-read` keeps a
 * constant error, and a group slightly behind would read thousands of phantom entries for good. One
 * short XRANGE tells: fewer entries than this after `last-delivered-id` is the exact lag; as many
 * means the group is really behind, and Redis's figure (or a count) is used.
 */
export const NEAR_END = 16;

/** What a group's lag is decided on, as `XINFO GROUPS` / `XINFO STREAM` report it. */
export interface GroupLagFacts {
  /** The group's `lag` field: null (or absent) when Redis cannot tell. */
  lag: number | null | undefined;
  /** The group's `last-delivered-id`. */
  lastDeliveredId: string;
  /** The stream's last id (its last entry's, else its `last-generated-id`); null when unknown. */
  lastId: string | null;
  /** The stream's length, when known: no lag exceeds the entries the stream holds. */
  length?: number | undefined;
}

/** Compares two stream ids (`ms-seq`) numerically. */
export function compareIds(a: string, b: string): number {
  const [am = '0', as = '0'] = a.split('-');
  const [bm = '0', bs = '0'] = b.split('-');
  const ms = BigInt(am) - BigInt(bm);
  if (ms !== 0n) return ms < 0n ? -1 : 1;
  const seq = BigInt(as) - BigInt(bs);
  return seq === 0n ? 0 : seq < 0n ? -1 : 1;
}

/**
 * The lag that can be told without reading the stream, or null when the entries must be counted.
 * A group that has been delivered the stream's last entry has nothing undelivered, whatever Redis
 * says: Redis derives `lag` from `entries-read`, a counter that an AOF rewrite and a restart can
 * leave behind `entries-added` for good, and such a lag would never drain.
 */
export function knownLag(f: GroupLagFacts): number | null {
  if (f.lastId === null || f.length === 0) return 0;
  if (compareIds(f.lastDeliveredId, f.lastId) >= 0) return 0;
  if (f.lag === null || f.lag === undefined) return null;
  const lag = Math.max(0, Number(f.lag));
  return f.length === undefined ? lag : Math.min(lag, f.length);
}

/** Entries of `key` after `afterId`, counted in pages, up to `LAG_COUNT_LIMIT`. */
export async function countAfter(client: Redis | Cluster, key: string, afterId: string): Promise<number> {
  let n = 0;
  let start = `(${afterId}`;
  while (n < LAG_COUNT_LIMIT) {
    const page = (await client.xrange(key, start, '+', 'COUNT', PAGE)) as [string, string[]][];
    n += page.length;
    if (page.length < PAGE) return n;
    start = `(${page[page.length - 1]![0]}`;
  }
  return LAG_COUNT_LIMIT;
}

/** The entries after `afterId` when fewer than `NEAR_END`; undefined when there are more. */
export async function countNearEnd(client: Redis | Cluster, key: string, afterId: string): Promise<number | undefined> {
  const page = (await client.xrange(key, `(${afterId}`, '+', 'COUNT', NEAR_END)) as unknown[];
  return page.length < NEAR_END ? page.length : undefined;
}

/**
 * A consumer group's lag: the entries of `key` not yet delivered to it. Every reader of a lag
 * (drain checks, health, backpressure, the lag gauge) goes through here, so they agree.
 * @see knownLag for when Redis's own figure is not used.
 */
export async function groupLag(client: Redis | Cluster, key: string, f: GroupLagFacts): Promise<number> {
  const known = knownLag(f);
  if (known === 0) return 0;
  return (
    (await countNearEnd(client, key, f.lastDeliveredId)) ?? known ?? (await countAfter(client, key, f.lastDeliveredId))
  );
}
