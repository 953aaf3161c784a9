import { SLOT_COUNT, slotOf } from '../redis/slots.js';

/**
 * The hash tag of partition `k` of `partitions`: the smallest tag `<k>` or `<k>.<n>` whose slot lies in
 * the k-th equal share of the slot space, so partitions spread evenly over the primaries of a cluster
 * whose slots are split evenly (as `up` and redis-cli do).
 */
function partitionTag(k: number, partitions: number): string {
  const lo = Math.floor((k * SLOT_COUNT) / partitions);
  const hi = Math.floor(((k + 1) * SLOT_COUNT) / partitions);
  for (let n = 0; n < 1_000_000; n++) {
    const tag = n === 0 ? String(k) : `${k}.${n}`;
    const slot = slotOf(tag);
    if (slot >= lo && slot < hi) return tag;
  }
  return String(k);
}

/**
 * Key names of a namespace. Everything of one partition shares the hash tag `{tag}` and so lives in
 * one cluster slot, which lets one script commit a stage's output, its input ack, its state and its
 * lease check atomically.
 */
export class Keys {
  readonly tags: string[];

  constructor(
    readonly ns: string,
    readonly partitions: number,
  ) {
    this.tags = Array.from({ length: partitions }, (_, k) => partitionTag(k, partitions));
  }

  private p(k: number, suffix: string): string {
    return `${this.ns}:{${this.tags[k]}}:${suffix}`;
  }

  /** A stream of partition k: `ingest`, a stage's output, `out`, `alerts`. */
  stream(k: number, name: string): string {
    return this.p(k, name);
  }
  /** The dead-letter stream of partition k, shared by every stage (each record names its stage). */
  dlq(k: number): string {
    return this.p(k, 'dlq');
  }
  state(k: number, stage: string): string {
    return this.p(k, `state:${stage}`);
  }
  /** Producer high-water marks of partition k: producer id -> last appended seq. */
  seq(k: number): string {
    return this.p(k, 'seq');
  }
  /** The lease of (stage, k). It lives in the partition's slot so the commit script can check it. */
  lease(stage: string, k: number): string {
    return this.p(k, `lease:${stage}`);
  }
  /** The namespace's recorded topology. */
  get meta(): string {
    return namespaceKeys.meta(this.ns);
  }
  get workers(): string {
    return namespaceKeys.workers(this.ns);
  }
  run(id: string): string {
    return namespaceKeys.run(this.ns, id);
  }
  /** Sorted set of run ids by start time. */
  get runs(): string {
    return namespaceKeys.runs(this.ns);
  }
}

/** The keys of a namespace that belong to no partition; usable before the partition count is known. */
export const namespaceKeys = {
  /** Hash of the recorded topology (partitions, createdAt). */
  meta: (ns: string) => `${ns}:meta`,
  /** Hash of worker heartbeats: worker id -> heartbeat JSON. */
  workers: (ns: string) => `${ns}:workers`,
  /** Sorted set of run ids by start time. */
  runs: (ns: string) => `${ns}:runs`,
  run: (ns: string, id: string) => `${ns}:runs:${id}`,
  /** A hash that stages look up through `ctx.services.lookup` (reference data). */
  lookupHash: (ns: string, hash: string) => `${ns}:${hash}`,
  /** A model's keys: one hash tag per model keeps its versions and its `latest` pointer in one slot. */
  model: (ns: string, name: string, suffix: string) => `${ns}:{model:${name}}:${suffix}`,
};

/** Whether `key` is a dead-letter stream of namespace `ns` (`Keys.dlq` of some partition). */
export function isDlqKey(ns: string, key: string): boolean {
  return key.startsWith(`${ns}:{`) && key.endsWith('}:dlq');
}

/** FNV-1a, 32 bits: a fast, stable hash so every process routes a key to the same partition. */
function hashKey(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** The partition of a key: per-key order holds end to end because a key always lands here. */
export function partitionOf(key: string, partitions: number): number {
  return hashKey(key) % partitions;
}
