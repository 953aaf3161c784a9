import { isUtf8 } from 'node:buffer';
import { CodecError, decodeEntry, type StreamEvent } from '../codec.js';
import type { DeadLetter } from '../scripts/commit.js';
import { TRACE_FIELD } from '../batch-tracer.js';

/** A stream entry as the Buffer variants of XREAD, XRANGE and XAUTOCLAIM return it. */
export type Entry = [id: Buffer, fields: Buffer[]];

/** An error as one line of a log or a dead letter (bounded: a stage's error may be large). */
export function errorText(err: unknown): string {
  return (err instanceof Error ? `${err.name}: ${err.message}` : String(err)).slice(0, 1000);
}

/**
 * Decodes entries into events. An entry that is not a batch of ours becomes a dead letter at once
 * (retrying cannot fix it), with its fields kept so that it can be rebuilt.
 * @param deliveries how many times the entry was delivered, for the dead letter.
 */
export function decodeEntries(
  entries: Entry[],
  deliveries: (id: string) => number,
): { events: StreamEvent[]; bad: DeadLetter[] } {
  const events: StreamEvent[] = [];
  const bad: DeadLetter[] = [];
  for (const [id, fields] of entries) {
    try {
      for (const e of decodeEntry(fields)) events.push(e);
    } catch (err) {
      if (!(err instanceof CodecError)) throw err;
      // Text fields as text, binary ones as base64, so the original entry can be rebuilt.
      const raw = JSON.stringify(
        fields.map((f) => (isUtf8(f) ? f.toString('utf8') : { b64: f.toString('base64') })),
      ).slice(0, 65_536);
      bad.push({
        events: 1,
        origin: id.toString(),
        error: errorText(err),
        deliveries: deliveries(id.toString()),
        batch: '',
        raw,
      });
    }
  }
  return { events, bad };
}

const TRACE = Buffer.from(TRACE_FIELD);

/** The traceparent an entry carries (field tc), if any. */
export function traceParentOf(fields: Buffer[]): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i]!.equals(TRACE)) return fields[i + 1]!.toString();
  return undefined;
}

/** The traceparents the entries carry, in their order; entries without one are left out. */
export function traceParents(entries: Entry[]): string[] {
  const out: string[] = [];
  for (const [, fields] of entries) {
    const tp = traceParentOf(fields);
    if (tp !== undefined) out.push(tp);
  }
  return out;
}
