/**
 * Record batches: many events in one stream entry, like Kafka's record batches. One entry costs
 * Redis about the same whether it holds one event or a hundred, so batching is the main lever on
 * throughput (see docs/ARCHITECTURE.md).
 *
 * Entry fields: `v` = codec version, `b` = the batch. Batch layout, version 1 (little endian):
 *   u8 version | u16 producer count | producers: (u16 length, utf8)...
 *   u32 event count | events: (u16 producer index, f64 seq, f64 ts, u16 key length, key utf8,
 *                              u32 data length, data bytes)...
 */
export const CODEC_VERSION = 1;

/** One event. `(producer, seq)` is its identity for the audit; `ts` its intended send time (epoch ms). */
export interface StreamEvent {
  key: string;
  producer: string;
  seq: number;
  ts: number;
  data: Buffer;
}

export class CodecError extends Error {
  override name = 'CodecError';
}

const MAX_U16 = 0xffff;

/** Encodes events into one batch. */
export function encodeBatch(events: readonly StreamEvent[]): Buffer {
  const producers = new Map<string, number>();
  let size = 1 + 2 + 4;
  for (const e of events) {
    if (!producers.has(e.producer)) {
      producers.set(e.producer, producers.size);
      size += 2 + Buffer.byteLength(e.producer);
    }
    size += 2 + 8 + 8 + 2 + Buffer.byteLength(e.key) + 4 + e.data.length;
  }
  if (producers.size > MAX_U16) throw new CodecError('too many producers in one batch');
  const buf = Buffer.allocUnsafe(size);
  let o = buf.writeUInt8(CODEC_VERSION, 0);
  o = buf.writeUInt16LE(producers.size, o);
  for (const p of producers.keys()) {
    const len = buf.write(p, o + 2);
    buf.writeUInt16LE(len, o);
    o += 2 + len;
  }
  o = buf.writeUInt32LE(events.length, o);
  for (const e of events) {
    o = buf.writeUInt16LE(producers.get(e.producer)!, o);
    o = buf.writeDoubleLE(e.seq, o);
    o = buf.writeDoubleLE(e.ts, o);
    const klen = buf.write(e.key, o + 2);
    if (klen > MAX_U16) throw new CodecError('key longer than 65535 bytes');
    buf.writeUInt16LE(klen, o);
    o += 2 + klen;
    o = buf.writeUInt32LE(e.data.length, o);
    o += e.data.copy(buf, o);
  }
  return buf;
}

/**
 * Decodes a batch. Event data are views into `buf` (no copy).
 * @throws CodecError on anything malformed: such entries are dead-lettered, never crash a worker.
 */
export function decodeBatch(buf: Buffer): StreamEvent[] {
  try {
    let o = 0;
    const version = buf.readUInt8(o);
    o += 1;
    if (version !== CODEC_VERSION) throw new CodecError(`unknown batch version ${version}`);
    const np = buf.readUInt16LE(o);
    o += 2;
    const producers: string[] = [];
    for (let i = 0; i < np; i++) {
      const len = buf.readUInt16LE(o);
      o += 2;
      if (o + len > buf.length) throw new CodecError('truncated producer');
      producers.push(buf.toString('utf8', o, o + len));
      o += len;
    }
    const n = buf.readUInt32LE(o);
    o += 4;
    if (n > buf.length) throw new CodecError('event count larger than the batch');
    const events: StreamEvent[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const pi = buf.readUInt16LE(o);
      const producer = producers[pi];
      if (producer === undefined) throw new CodecError(`producer index ${pi} out of range`);
      const seq = buf.readDoubleLE(o + 2);
      const ts = buf.readDoubleLE(o + 10);
      const klen = buf.readUInt16LE(o + 18);
      o += 20;
      if (o + klen > buf.length) throw new CodecError('truncated key');
      const key = buf.toString('utf8', o, o + klen);
      o += klen;
      const dlen = buf.readUInt32LE(o);
      o += 4;
      if (o + dlen > buf.length) throw new CodecError('truncated data');
      events[i] = { key, producer, seq, ts, data: buf.subarray(o, o + dlen) };
      o += dlen;
    }
    if (o !== buf.length) throw new CodecError(`${buf.length - o} trailing bytes`);
    return events;
  } catch (err) {
    if (err instanceof CodecError) throw err;
    throw new CodecError(`malformed batch: ${(err as Error).message}`);
  }
}

/**
 * Decodes the fields of a stream entry as read with the Buffer variant of XREADGROUP/XRANGE.
 * @throws CodecError when the entry is not a batch of ours (e.g. written by hand with redis-cli).
 */
export function decodeEntry(fields: Buffer[]): StreamEvent[] {
  let version: string | undefined;
  let body: Buffer | undefined;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const name = fields[i]!.toString();
    if (name === 'v') version = fields[i + 1]!.toString();
    else if (name === 'b') body = fields[i + 1];
  }
  if (version === undefined || body === undefined)
    throw new CodecError('not a streamctl batch (fields v and b expected)');
  if (version !== String(CODEC_VERSION)) throw new CodecError(`unsupported entry version ${version}`);
  return decodeBatch(body);
}
