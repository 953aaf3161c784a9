/**
 * Little-endian binary for stage state entries. A worker commits the entries a batch changed with
 * every batch; as JSON, writing their numbers (doubles printed to the shortest round-tripping
 * decimal) and then the strings again into the commit was a large share of the steps' CPU. Binary
 * writes the doubles as they are, and the commit takes the bytes without re-encoding them.
 *
 * An entry written by an earlier version is JSON, which starts with `{` or `[`: a format byte that
 * is neither tells the two apart.
 */

/** The first byte of a JSON entry (`{` or `[`): what earlier versions wrote. */
export function isJsonEntry(entry: Buffer): boolean {
  return entry[0] === 0x7b || entry[0] === 0x5b;
}

const MAX_U16 = 0xffff;

/** Appends values to a buffer that grows as needed; `take` returns what was written and starts over. */
export class ByteWriter {
  private buf: Buffer;
  private o = 0;

  constructor(size = 256) {
    this.buf = Buffer.allocUnsafe(size);
  }

  private room(n: number): void {
    if (this.o + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.o + n));
    this.buf.copy(next, 0, 0, this.o);
    this.buf = next;
  }

  u8(v: number): this {
    this.room(1);
    this.buf[this.o++] = v;
    return this;
  }

  u16(v: number): this {
    this.room(2);
    this.o = this.buf.writeUInt16LE(v, this.o);
    return this;
  }

  u32(v: number): this {
    this.room(4);
    this.o = this.buf.writeUInt32LE(v, this.o);
    return this;
  }

  f64(v: number): this {
    this.room(8);
    this.o = this.buf.writeDoubleLE(v, this.o);
    return this;
  }

  /**
   * A string as u16 byte length and UTF-8.
   * @throws RangeError over 65,535 bytes.
   */
  str(s: string): this {
    // At most 3 bytes per UTF-16 unit.
    this.room(2 + 3 * s.length);
    const n = this.buf.write(s, this.o + 2);
    if (n > MAX_U16) throw new RangeError(`string of ${n} bytes: at most ${MAX_U16} in a state entry`);
    this.buf.writeUInt16LE(n, this.o);
    this.o += 2 + n;
    return this;
  }

  /** Bytes written since the last take. */
  get length(): number {
    return this.o;
  }

  /** Overwrites the u32 at `at` (a count known only at the end). */
  setU32(at: number, v: number): void {
    this.buf.writeUInt32LE(v, at);
  }

  /** A copy of what was written since the last take. */
  take(): Buffer {
    const out = Buffer.allocUnsafe(this.o);
    this.buf.copy(out, 0, 0, this.o);
    this.o = 0;
    return out;
  }
}

/** Reads what a ByteWriter wrote, checking every read against the end. */
export class ByteReader {
  private o = 0;

  constructor(private readonly buf: Buffer) {}

  private need(n: number): number {
    const at = this.o;
    if (at + n > this.buf.length) throw new RangeError(`truncated at byte ${at} of ${this.buf.length}`);
    this.o += n;
    return at;
  }

  u8(): number {
    return this.buf[this.need(1)]!;
  }

  u16(): number {
    return this.buf.readUInt16LE(this.need(2));
  }

  u32(): number {
    return this.buf.readUInt32LE(this.need(4));
  }

  f64(): number {
    return this.buf.readDoubleLE(this.need(8));
  }

  str(): string {
    const n = this.u16();
    const at = this.need(n);
    return this.buf.toString('utf8', at, at + n);
  }

  /** @throws RangeError when bytes are left over. */
  end(): void {
    if (this.o !== this.buf.length) throw new RangeError(`${this.buf.length - this.o} trailing bytes`);
  }
}
