/** Replay of a user's own events from an NDJSON file (`produce --from FILE`). */
import { isUtf8 } from 'node:buffer';
import { open } from 'node:fs/promises';

export interface NdjsonEvent {
  key: string;
  /** The line's bytes as given (without the line terminator "\n" or "\r\n", and without a UTF-8 BOM on line 1). */
  data: Buffer;
  /** 1-based line number in the file. */
  line: number;
}

export interface MalformedLine {
  /** 1-based line number in the file. */
  line: number;
  reason: string;
  /** The start of the line (at most 200 characters), for the report. */
  text: string;
}

export interface NdjsonStats {
  /** Lines read so far (including blank and malformed ones). */
  lines: number;
  /** Good events yielded so far. */
  events: number;
  /** Malformed lines so far (all of them, also beyond the ones kept in `malformed`). */
  malformed: number;
  /** Empty or whitespace-only lines, skipped. */
  blank: number;
  /** Bytes of the file read into lines so far: against `size`, how far the replay is. */
  bytes: number;
}

export interface NdjsonWorkload extends AsyncIterable<NdjsonEvent> {
  /** The next good event, or undefined at the end of the file. */
  next(): Promise<NdjsonEvent | undefined>;
  /** Malformed lines met so far, in order (the first `maxMalformed`; `stats.malformed` counts all). */
  readonly malformed: MalformedLine[];
  readonly stats: NdjsonStats;
  /** The file's size when it was opened, in bytes. */
  readonly size: number;
  /** Stop reading and close the file (also done at the end of the file, or when a for-await loop exits). */
  close(): Promise<void>;
}

export interface NdjsonOptions {
  /** Malformed lines to keep with their details (default 1000); all are counted. */
  maxMalformed?: number;
  /** Read size (default 1 MiB). */
  chunkBytes?: number;
}

const MAX_SNIPPET = 200;

/**
 * Replay events from an NDJSON file (`produce --from FILE`): one JSON object per line with at least a non-empty string `key`.
 * The data of an event is the line's bytes as given. Lines that are not valid UTF-8, not JSON, not an object, or have no string
 * key are not dropped silently: they are collected in `malformed` with their line numbers (and counted in `stats`), and the
 * good lines are still yielded. Blank lines are skipped (counted in `stats.blank`).
 *
 * Opens the file at once, so a missing file fails here rather than at the first event. Single pass: iterate it once, either
 * with for-await or with next().
 */
export async function readNdjsonWorkload(path: string, opts: NdjsonOptions = {}): Promise<NdjsonWorkload> {
  const maxMalformed = opts.maxMalformed ?? 1000;
  const chunkBytes = opts.chunkBytes ?? 1 << 20;
  const file = await open(path, 'r');
  const malformed: MalformedLine[] = [];
  const size = (await file.stat()).size;
  const stats: NdjsonStats = { lines: 0, events: 0, malformed: 0, blank: 0, bytes: 0 };

  const bad = (line: number, reason: string, bytes: Buffer) => {
    stats.malformed++;
    if (malformed.length < maxMalformed) {
      const text = bytes.toString('utf8', 0, Math.min(bytes.length, MAX_SNIPPET * 4));
      malformed.push({ line, reason, text: text.length > MAX_SNIPPET ? `${text.slice(0, MAX_SNIPPET)}…` : text });
    }
  };

  /** One line (without "\n"), or undefined when it is not a good event. */
  const parseLine = (raw: Buffer, line: number): NdjsonEvent | undefined => {
    stats.lines++;
    let bytes = raw;
    if (bytes.length > 0 && bytes[bytes.length - 1] === 0x0d) bytes = bytes.subarray(0, bytes.length - 1);
    if (line === 1 && bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf)
      bytes = bytes.subarray(3);
    let blank = true;
    for (let j = 0; j < bytes.length; j++) {
      const c = bytes[j];
      if (c !== 0x20 && c !== 0x09 && c !== 0x0d) {
        blank = false;
        break;
      }
    }
    if (blank) {
      stats.blank++;
      return undefined;
    }
    if (!isUtf8(bytes)) {
      bad(line, 'not valid UTF-8', bytes);
      return undefined;
    }
    let value: unknown;
    try {
      value = JSON.parse(bytes.toString('utf8'));
    } catch (err) {
      bad(line, `not JSON: ${(err as Error).message}`, bytes);
      return undefined;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      bad(
        line,
        `not a JSON object (${value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value})`,
        bytes,
      );
      return undefined;
    }
    const key = (value as { key?: unknown }).key;
    if (typeof key !== 'string' || key.length === 0) {
      bad(line, key === undefined ? 'no "key"' : '"key" is not a non-empty string', bytes);
      return undefined;
    }
    stats.events++;
    return { key, data: Buffer.from(bytes), line };
  };

  async function* events(): AsyncGenerator<NdjsonEvent, void, undefined> {
    started = true;
    const buf = Buffer.allocUnsafe(chunkBytes);
    let carry: Buffer | undefined; // an incomplete line from the previous read
    let line = 0;
    try {
      for (;;) {
        const { bytesRead } = await file.read(buf, 0, buf.length, null);
        if (bytesRead === 0) break;
        const chunk = buf.subarray(0, bytesRead);
        let start = 0;
        for (;;) {
          const nl = chunk.indexOf(0x0a, start);
          if (nl < 0) break;
          const piece = chunk.subarray(start, nl);
          const raw = carry ? Buffer.concat([carry, piece]) : piece;
          carry = undefined;
          start = nl + 1;
          stats.bytes += raw.length + 1;
          const e = parseLine(raw, ++line);
          if (e) yield e;
        }
        // Copy the rest: `buf` is reused by the next read.
        if (start < bytesRead)
          carry = carry ? Buffer.concat([carry, chunk.subarray(start)]) : Buffer.from(chunk.subarray(start));
      }
      if (carry && carry.length > 0) {
        stats.bytes += carry.length;
        const e = parseLine(carry, ++line);
        if (e) yield e;
      }
    } finally {
      await file.close().catch(() => {});
    }
  }

  let started = false;
  let closed = false;
  const gen = events();
  return {
    async next() {
      if (closed) return undefined;
      const r = await gen.next();
      return r.done ? undefined : r.value;
    },
    [Symbol.asyncIterator]() {
      return gen;
    },
    malformed,
    stats,
    size,
    async close() {
      if (closed) return;
      closed = true;
      // A generator that never started does not run its finally: close the file here then.
      if (started) await gen.return(undefined);
      else await file.close().catch(() => {});
    },
  };
}
