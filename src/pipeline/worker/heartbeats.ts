import type { Cluster, Redis } from 'ioredis';
import { namespaceKeys } from '../keys.js';
import type { LookupStats } from '../services/lookup.js';

/** A heartbeat older than this marks its worker dead. */
const HEARTBEAT_STALE_MS = 3000;
/** A heartbeat older than this is removed by the first worker that sees it. */
const FORGET_MS = 60_000;

/** What a worker counts, published in its heartbeat. */
export interface WorkerCounters {
  received: number;
  sent: number;
  /** Events sent to other streams with ctx.emit (e.g. alerts). */
  emitted: number;
  failed: number;
  deadLettered: number;
  batches: number;
  /** Events of commits that landed on the primary but that no replica acknowledged in time (durable mode). */
  notDurable?: number;
}

/** What a worker publishes in the namespace's heartbeat hash (`namespaceKeys.workers`) every balance round. */
export interface Heartbeat extends WorkerCounters {
  id: string;
  stage: string;
  pid: number;
  host: string;
  startedAt: number;
  ts: number;
  owned: number[];
  rate: number;
  lookup?: LookupStats;
  metricsPort?: number;
}

/** A heartbeat from its JSON, or undefined when the entry is not one (written by hand, or by another program). */
function parseHeartbeat(json: string): Heartbeat | undefined {
  let h: unknown;
  try {
    h = JSON.parse(json);
  } catch {
    return undefined;
  }
  if (typeof h !== 'object' || h === null) return undefined;
  const x = h as Record<string, unknown>;
  const ok =
    typeof x.id === 'string' &&
    typeof x.stage === 'string' &&
    typeof x.host === 'string' &&
    Number.isFinite(x.pid) &&
    Number.isFinite(x.ts) &&
    Array.isArray(x.owned);
  return ok ? (h as Heartbeat) : undefined;
}

/** Whether the worker of this heartbeat counts as alive at `now`. */
export function isLive(h: Heartbeat, now = Date.now()): boolean {
  return now - h.ts < HEARTBEAT_STALE_MS;
}

/** The heartbeats in the namespace's heartbeat hash as HGETALL returns it; entries that are not heartbeats are skipped. */
export function parseHeartbeats(hash: Record<string, string>): Heartbeat[] {
  const out: Heartbeat[] = [];
  for (const json of Object.values(hash)) {
    const h = parseHeartbeat(json);
    if (h) out.push(h);
  }
  return out;
}

/** Every heartbeat of the namespace, live or dead, every stage and host; entries that are not heartbeats are skipped. */
export async function readHeartbeats(client: Redis | Cluster, ns: string): Promise<Heartbeat[]> {
  return parseHeartbeats(await client.hgetall(namespaceKeys.workers(ns)));
}

/** The heartbeats of the live workers of the namespace. */
export async function liveHeartbeats(client: Redis | Cluster, ns: string): Promise<Heartbeat[]> {
  const now = Date.now();
  return (await readHeartbeats(client, ns)).filter((h) => isLive(h, now));
}

/** Publishes a worker's heartbeat. */
export async function publishHeartbeat(client: Redis | Cluster, ns: string, h: Heartbeat): Promise<void> {
  await client.hset(namespaceKeys.workers(ns), h.id, JSON.stringify(h));
}

/** Removes a worker's heartbeat (it stopped). */
export async function removeHeartbeat(client: Redis | Cluster, ns: string, id: string): Promise<void> {
  await client.hdel(namespaceKeys.workers(ns), id);
}

/**
 * The live workers of `stage` (at least 1: the caller counts itself). Long-dead heartbeats and
 * entries that are not heartbeats are removed on the way, by whichever worker notices them first.
 */
export async function countLiveWorkers(client: Redis | Cluster, ns: string, stage: string): Promise<number> {
  const key = namespaceKeys.workers(ns);
  const all = await client.hgetall(key);
  const now = Date.now();
  let live = 0;
  for (const [id, json] of Object.entries(all)) {
    const h = parseHeartbeat(json);
    if (h && h.stage === stage && isLive(h, now)) live++;
    else if (!h || now - h.ts > FORGET_MS) await client.hdel(key, id);
  }
  return Math.max(1, live);
}
