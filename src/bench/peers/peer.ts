import type { RedisConnection } from '../../redis/connection.js';

/** The events a peer's producer sends: the first `events` of `streamctl bench`'s metric workload. */
export interface PeerWorkload {
  events: number;
  keys: number;
  seed: number;
  anomalyRate: number;
}

/** What a peer is given: the Redis to run on, a key prefix holding a hash tag, its events. */
export interface PeerOptions {
  conn: RedisConnection;
  prefix: string;
  workload: PeerWorkload;
  signal?: AbortSignal;
}

/** One peer's run: how long its events took end to end. */
export interface PeerResult {
  name: string;
  events: number;
  seconds: number;
  eventsPerSecond: number;
}
