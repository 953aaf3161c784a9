/**
 * The body of `POST /events`: a JSON array of event objects or NDJSON, checked all or nothing.
 * Kept free of I/O so that the hot path of the ingest can be measured and tested on its own.
 */
import { isAscii, isUtf8 } from 'node:buffer';

/** A rejected body: the first bad NDJSON line (1-based) or array index. */
export interface BodyProblem {
  error: string;
  line?: number;
  index?: number;
  reason: string;
}

/** An event of an accepted body: its partition key and the bytes stored as its data. */
export interface ParsedEvent {
  key: string;
  data: Buffer;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Why a parsed value is no event (the reason a 400 gives), or undefined if it is one. */
function checkEvent(value: unknown): string | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    return `an event must be a JSON object, not ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}`;
  const key = (value as { key?: unknown }).key;
  if (key === undefined) return 'missing "key"';
  if (typeof key !== 'string') return `"key" must be a string, not ${key === null ? 'null' : typeof key}`;
  if (key.length === 0) return '"key" must not be empty';
  return undefined;
}

/** The 1-based line of a character offset. */
function lineOf(text: string, pos: number): number {
  let line = 1;
  for (let i = 0; i < pos && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

function contentKind(contentType: string | undefined): 'array' | 'ndjson' | undefined {
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (type === 'application/json') return 'array';
  if (type === 'application/x-ndjson' || type === 'application/ndjson' || type === 'application/jsonl') return 'ndjson';
  return undefined;
}

/** Space, tab or CR: JSON whitespace that may pad an NDJSON line (the newline ends it). */
function isPad(byte: number): boolean {
  return byte === 0x20 || byte === 0x09 || byte === 0x0d;
}

/**
 * NDJSON, the hot path of the ingest: the body is checked for UTF-8 once, each line is parsed
 * (JSON.parse is the validator) and its event data is the line's own bytes, a view into the body,
 * not a re-serialization: stringifying and copying each event again cost as much as parsing it.
 */
function parseNdjson(body: Buffer): { events: ParsedEvent[] } | { problem: BodyProblem } {
  if (!isUtf8(body)) return { problem: { error: 'invalid body', reason: 'the body is not valid UTF-8' } };
  // A UTF-8 byte order mark is not part of the first line (the decoder used to drop it).
  const start = body.length >= 3 && body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf ? 3 : 0;
  // ASCII (the usual case): byte offsets are string offsets, so lines are slices of one decoded string.
  const text = isAscii(body) ? body.toString('latin1') : undefined;
  const events: ParsedEvent[] = [];
  let line = 0;
  for (let from = start; from < body.length;) {
    line++;
    let end = body.indexOf(0x0a, from);
    if (end < 0) end = body.length;
    let a = from;
    let b = end;
    from = end + 1;
    while (a < b && isPad(body[a]!)) a++;
    while (b > a && isPad(body[b - 1]!)) b--;
    if (a === b) continue;
    const raw = text !== undefined ? text.slice(a, b) : body.toString('utf8', a, b);
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (err) {
      // Other Unicode spaces alone on a line make a blank line too, as String#trim sees it.
      if (raw.trim() === '') continue;
      return { problem: { error: 'malformed JSON', line, reason: (err as Error).message } };
    }
    const bad = checkEvent(value);
    if (bad) return { problem: { error: 'invalid event', line, reason: bad } };
    events.push({ key: (value as { key: string }).key, data: body.subarray(a, b) });
  }
  if (events.length === 0) return { problem: { error: 'invalid body', reason: 'no events in the body' } };
  return { events };
}

/**
 * Parses a POST /events body: a JSON array of event objects, or NDJSON (one object per line, blank
 * lines ignored). The format follows the content type; without a known one, a body whose first
 * non-space character is `[` is an array. All or nothing: the first bad event is returned as a problem.
 * An NDJSON line is stored as sent (without surrounding whitespace); an array element is
 * re-serialized compactly, since it may span lines.
 */
export function parseEvents(
  body: Buffer,
  contentType: string | undefined,
): { events: ParsedEvent[] } | { problem: BodyProblem } {
  let kind = contentKind(contentType);
  if (kind === undefined) {
    let i = 0;
    // Sniffing: the first byte past a byte order mark and JSON whitespace (anything else is no valid body either way).
    if (body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf) i = 3;
    while (i < body.length && (isPad(body[i]!) || body[i] === 0x0a)) i++;
    kind = body[i] === 0x5b ? 'array' : 'ndjson';
  }
  if (kind === 'ndjson') return parseNdjson(body);
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    return { problem: { error: 'invalid body', reason: 'the body is not valid UTF-8' } };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    const message = (err as Error).message;
    const pos = /position (\d+)/.exec(message);
    const line = /line (\d+)/.exec(message);
    const at = line ? Number(line[1]) : pos ? lineOf(text, Number(pos[1])) : undefined;
    return { problem: { error: 'malformed JSON', ...(at !== undefined ? { line: at } : {}), reason: message } };
  }
  if (!Array.isArray(value))
    return { problem: { error: 'invalid body', reason: 'expected a JSON array of event objects' } };
  const events: ParsedEvent[] = [];
  for (let i = 0; i < value.length; i++) {
    const bad = checkEvent(value[i]);
    if (bad) return { problem: { error: 'invalid event', index: i, reason: bad } };
    events.push({ key: (value[i] as { key: string }).key, data: Buffer.from(JSON.stringify(value[i])) });
  }
  if (events.length === 0) return { problem: { error: 'invalid body', reason: 'no events in the body' } };
  return { events };
}
