/**
 * What the toxics do to one chunk of bytes: turn it into pieces, each with the time it is due at the
 * far side. Kept free of sockets and timers so the schedule can be reasoned about (and tested) on
 * its own; `proxy-link.ts` holds the pieces until they are due and writes them in order.
 */
import type { Toxic } from './toxic.js';

/** A toxic added to a proxy: the same object for as long as it stays, with what it acted on. */
export interface ActiveToxic {
  readonly toxic: Toxic;
  /** Bytes that reached this toxic (delayed, paced, sliced, dropped or counted), over all connections. */
  bytes: number;
  /** Connections this toxic reset (`reset_peer` only). */
  resets: number;
}

/** Bytes to write, and when (a `performance.now()` time in ms). */
export interface Piece {
  data: Buffer;
  due: number;
}

/** What came out of the chain for one chunk. */
export interface ChainResult {
  pieces: Piece[];
  /** A `limit_data` toxic is spent: once these pieces are written, the connection closes. */
  close: boolean;
}

/**
 * The memory toxics keep per direction of a connection. Keyed by the toxic's object, so a toxic
 * removed and added again under the same name starts afresh.
 */
export class ChainState {
  /** latency: the last due time it gave, so jitter never lets a later chunk overtake. */
  readonly lastDue = new WeakMap<ActiveToxic, number>();
  /** bandwidth: when the simulated wire is free again. */
  readonly wireFree = new WeakMap<ActiveToxic, number>();
  /** limit_data: bytes it let through. */
  readonly passed = new WeakMap<ActiveToxic, number>();
}

/**
 * bandwidth: a chunk is cut into pieces of this many ms of transfer, so that a slow rate releases
 * bytes steadily instead of one large piece at the end.
 */
const BANDWIDTH_SLICE_MS = 100;

/**
 * Runs `chunk`, arrived at `now`, through `toxics` in the order they were added. `reset_peer` is
 * not a matter of bytes: the proxy acts on it when it is added and on each new connection.
 */
export function runChain(
  toxics: readonly ActiveToxic[],
  chunk: Buffer,
  now: number,
  state: ChainState,
  random: () => number = Math.random,
): ChainResult {
  let pieces: Piece[] = [{ data: chunk, due: now }];
  let close = false;
  for (const active of toxics) {
    if (pieces.length === 0) break;
    const t = active.toxic;
    const size = totalBytes(pieces);
    switch (t.type) {
      case 'reset_peer':
        continue;
      case 'blackhole':
        active.bytes += size;
        return { pieces: [], close };
      case 'limit_data': {
        const passed = state.passed.get(active) ?? 0;
        const room = Math.max(0, t.bytes - passed);
        const allowed = Math.min(room, size);
        active.bytes += allowed;
        state.passed.set(active, passed + allowed);
        if (size >= room) {
          close = true;
          pieces = truncate(pieces, room);
        }
        break;
      }
      case 'latency': {
        let last = state.lastDue.get(active) ?? -Infinity;
        for (const p of pieces) {
          const delay = Math.max(0, t.ms + (random() * 2 - 1) * t.jitterMs);
          p.due = Math.max(last, p.due + delay);
          last = p.due;
        }
        state.lastDue.set(active, last);
        active.bytes += size;
        break;
      }
      case 'bandwidth': {
        // kbps kilobytes per second is kbps bytes per ms.
        const sliceBytes = Math.max(1, Math.floor(t.kbps * BANDWIDTH_SLICE_MS));
        let free = state.wireFree.get(active) ?? -Infinity;
        const out: Piece[] = [];
        for (const p of pieces) {
          for (const data of cut(p.data, () => sliceBytes)) {
            free = Math.max(free, p.due) + data.length / t.kbps;
            out.push({ data, due: free });
          }
        }
        state.wireFree.set(active, free);
        pieces = out;
        active.bytes += size;
        break;
      }
      case 'slicer': {
        const out: Piece[] = [];
        const sizeOf = () => Math.max(1, t.averageSize + Math.round((random() * 2 - 1) * t.sizeVariation));
        for (const p of pieces) {
          let i = 0;
          for (const data of cut(p.data, sizeOf)) out.push({ data, due: p.due + (i++ * t.delayUs) / 1000 });
        }
        pieces = out;
        active.bytes += size;
        break;
      }
    }
  }
  return { pieces, close };
}

function totalBytes(pieces: readonly Piece[]): number {
  let n = 0;
  for (const p of pieces) n += p.data.length;
  return n;
}

/** The first `bytes` bytes of `pieces`. */
function truncate(pieces: Piece[], bytes: number): Piece[] {
  const out: Piece[] = [];
  let left = bytes;
  for (const p of pieces) {
    if (left <= 0) break;
    out.push(p.data.length <= left ? p : { data: p.data.subarray(0, left), due: p.due });
    left -= p.data.length;
  }
  return out;
}

/** `data` in consecutive views of the sizes `next` gives (views, not copies: the bytes are not touched). */
function* cut(data: Buffer, next: () => number): Generator<Buffer> {
  let at = 0;
  while (at < data.length) {
    const n = Math.max(1, next());
    yield data.subarray(at, at + n);
    at += n;
  }
}
