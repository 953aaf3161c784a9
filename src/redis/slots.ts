import calculateSlot from 'cluster-key-slot';

/** Hash slots of a Redis Cluster. */
export const SLOT_COUNT = 16384;

/** The cluster slot of a key (its hash tag's, when it has one). */
export function slotOf(key: string | Buffer): number {
  return calculateSlot(key);
}
