import { isAscii, isUtf8 } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Histogram, Registry } from 'prom-client';
import { RuntimeError, UsageError } from '../errors.js';
import { stageBacklog } from '../pipeline/backlog.js';
import { Producer } from '../pipeline/producer.js';
import { saveRun, type RunRecord } from '../pipeline/runs.js';
import type { ScriptClient } from '../pipeline/scripts/scripts.js';
import type { Topology } from '../pipeline/topology.js';
import { sleep } from '../wait.js';

/** A shutdown step slower than this is logged. */
const SLOW_CLOSE_MS = 5_000;

export interface HttpIngestOptions {
  /** A client with streamctl's scripts (`withScripts(conn.client())`). */
  client: ScriptClient;
  /** The namespace's topology; its stages are the ones whose lag is checked. */
  topology: Topology;
  /** Default 127.0.0.1. */
  host?: string;
  /** 0 (the default) picks a free port. */
  port?: number;
  /** The flag that sets `port`, named in the hint when it cannot be bound (default `--port`). */
  portFlag?: string;
  /** Largest accepted request body in bytes (default 1 MiB): 413 above. */
  maxBodyBytes?: number;
  /** Pipeline lag (undelivered entries summed over stages) above which POSTs get 503 (default 100000). */
  maxLag?: number;
  /** How long a computed lag is reused (default 500 ms). */
  lagRefreshMs?: number;
  /** Producer: events per stream entry (default 100) and linger (default 5 ms). */
  batch?: number;
  lingerMs?: number;
  durable?: boolean;
  /** Default: a fresh `<time36>-<hex>` id. */
  runId?: string;
  /** Default: `http-<run id>`. */
  producerId?: string;
  /** At close, how long requests in flight get to be answered before their connections are cut (default 10000 ms). */
  drainRequestsMs?: number;
  /** How often the run record is saved while serving (default 1000 ms). */
  recordEveryMs?: number;
  /** Background problems (a failed run-record save); default: ignored. */
  log?: (message: string) => void;
}

export interface HttpIngestStats {
  requests: number;
  /** Events acknowledged to clients with 202. */
  accepted: number;
  /** Requests answered 4xx/5xx. */
  rejected: number;
  /** Producer counters. */
  sent: number;
  acked: number;
  failed: number;
}

export interface HttpIngest {
  readonly host: string;
  readonly port: number;
  /** `http://host:port` */
  readonly url: string;
  readonly runId: string;
  readonly producerId: string;
  /** The prom-client registry behind `GET /metrics`. */
  readonly registry: Registry;
  stats(): HttpIngestStats;
  /** Stops accepting, finishes in-flight requests, flushes the producer, saves the final run record. */
  close(): Promise<RunRecord>;
}

/** A rejected body: the first bad NDJSON line (1-based) or array index. */
export interface BodyProblem {
  error: string;
  line?: number;
  index?: number;
  reason: string;
}

export interface ParsedEvent {
  key: string;
  data: Buffer;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

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

interface Pending {
  events: ParsedEvent[];
  resolve: (r: { first: number; last: number; failed: number }) => void;
}

class TooLarge extends Error {}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers });
  res.end(res.req.method === 'HEAD' ? undefined : text);
}

/**
 * Starts the HTTP ingest server: `POST /events` (JSON array or NDJSON) through one idempotent
 * producer, `GET /healthz`, `GET /metrics`. The run is recorded like a `produce` run, so
 * `streamctl verify --run <id>` audits exactly what was accepted.
 * @throws UsageError HTTP_PORT_BUSY / HTTP_PORT_DENIED when the port cannot be bound.
 */
export async function startHttpIngest(o: HttpIngestOptions): Promise<HttpIngest> {
  const host = o.host ?? '127.0.0.1';
  const maxBody = o.maxBodyBytes ?? 1024 * 1024;
  const maxLag = o.maxLag ?? 100_000;
  const lagRefreshMs = o.lagRefreshMs ?? 500;
  const runId = o.runId ?? `${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
  const producerId = o.producerId ?? `http-${runId}`;
  const { client, topology } = o;

  const registry = new Registry();
  const requestsTotal = new Counter({
    name: 'streamctl_http_requests_total',
    help: 'HTTP requests by status code',
    labelNames: ['code'],
    registers: [registry],
  });
  const acceptedTotal = new Counter({
    name: 'streamctl_http_events_accepted_total',
    help: 'Events accepted (acknowledged with 202)',
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'streamctl_http_request_duration_seconds',
    help: 'HTTP request duration, from the request to the end of the response',
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });

  const producer = new Producer({
    client,
    topology,
    producerId,
    batch: o.batch ?? 100,
    lingerMs: o.lingerMs ?? 5,
    durable: o.durable ?? false,
  });
  await producer.init();
  const run: RunRecord = {
    id: runId,
    kind: 'produce',
    producer: producerId,
    status: 'running',
    startedAt: Date.now(),
    partitions: topology.partitions,
    rate: 0,
    firstSeq: producer.first,
    lastSeq: producer.first - 1,
    sent: 0,
    acked: 0,
    errors: 0,
    failed: 0,
    failedRanges: [],
  };
  // Saves are chained so an older snapshot never overwrites a newer one.
  let saving: Promise<void> = Promise.resolve();
  const record = (status: RunRecord['status']): Promise<void> => {
    saving = saving
      .catch(() => {})
      .then(async () => {
        Object.assign(run, {
          status,
          lastSeq: producer.last,
          sent: producer.stats.sent,
          acked: producer.stats.acked,
          errors: producer.stats.errors,
          failed: producer.stats.failed,
          failedRanges: [...producer.stats.failedRanges],
        });
        if (status !== 'running') run.endedAt = Date.now();
        await saveRun(client, topology.keys, run);
      });
    return saving;
  };
  await record('running');

  const counters = { requests: 0, accepted: 0, rejected: 0 };

  // Lag: summed over stages, cached for lagRefreshMs, one refresh at a time.
  let lag = { value: 0, at: -Infinity };
  let lagRefresh: Promise<number> | undefined;
  const currentLag = async (): Promise<number> => {
    if (performance.now() - lag.at < lagRefreshMs) return lag.value;
    lagRefresh ??= Promise.all(topology.stages.map((s) => stageBacklog(client, topology, s.name)))
      .then((all) => {
        lag = { value: all.reduce((a, s) => a + s.lag, 0), at: performance.now() };
        return lag.value;
      })
      .finally(() => (lagRefresh = undefined));
    return lagRefresh;
  };

  // Appends in rounds: each round sends the events of every request queued so far, then waits for
  // the producer to be idle (flushAll). Nothing is sent during a round's flush, so flushAll always
  // ends, and when it does every event of the round is acked or given up.
  const queue: Pending[] = [];
  let pumping: Promise<void> | undefined;
  const pump = async (): Promise<void> => {
    while (queue.length > 0) {
      const round = queue.splice(0);
      const ranges = round.map((p) => {
        const first = producer.last + 1;
        const ts = Date.now();
        for (const e of p.events) producer.send(e.key, e.data, ts);
        return { first, last: producer.last };
      });
      await producer.flushAll();
      round.forEach((p, i) => {
        const { first, last } = ranges[i]!;
        let failed = 0;
        for (const [a, b] of producer.stats.failedRanges)
          failed += Math.max(0, Math.min(b, last) - Math.max(a, first) + 1);
        p.resolve({ first, last, failed });
      });
    }
  };
  const append = (events: ParsedEvent[]) =>
    new Promise<{ first: number; last: number; failed: number }>((resolve) => {
      queue.push({ events, resolve });
      pumping ??= pump().finally(() => (pumping = undefined));
    });

  const readBody = (req: IncomingMessage): Promise<Buffer> =>
    new Promise((resolve, reject) => {
      const declared = Number(req.headers['content-length']);
      if (Number.isFinite(declared) && declared > maxBody) return reject(new TooLarge());
      const chunks: Buffer[] = [];
      let size = 0;
      const onData = (c: Buffer) => {
        size += c.length;
        if (size > maxBody) {
          req.off('data', onData);
          req.off('end', onEnd);
          chunks.length = 0;
          reject(new TooLarge());
          return;
        }
        chunks.push(c);
      };
      // One chunk (a body that came in one read) needs no copy.
      const onEnd = () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
      req.on('data', onData);
      req.on('end', onEnd);
      req.on('error', reject);
    });

  let stopping = false;
  const handleEvents = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (stopping) return sendJson(res, 503, { error: 'shutting down' }, { connection: 'close' });
    let current: number;
    try {
      current = await currentLag();
    } catch (err) {
      return sendJson(
        res,
        503,
        { error: 'cannot read the pipeline lag', reason: (err as Error).message },
        { 'retry-after': '1' },
      );
    }
    if (current > maxLag)
      return sendJson(res, 503, { error: 'pipeline lag too high', lag: current, maxLag }, { 'retry-after': '1' });
    let body: Buffer;
    try {
      body = await readBody(req);
    } catch (err) {
      if (err instanceof TooLarge) {
        sendJson(res, 413, { error: 'body too large', maxBytes: maxBody }, { connection: 'close' });
        // Stop reading: once the answer is out, drop the connection if the client keeps sending.
        res.once('finish', () => setTimeout(() => req.destroy(), 1000).unref());
        return;
      }
      throw err;
    }
    const parsed = parseEvents(body, req.headers['content-type']);
    if ('problem' in parsed) return sendJson(res, 400, parsed.problem);
    const { failed } = await append(parsed.events);
    if (failed > 0)
      return sendJson(res, 500, {
        error: 'append failed',
        reason: `${failed} of ${parsed.events.length} event(s) could not be appended; their fate is unknown`,
        failed,
      });
    counters.accepted += parsed.events.length;
    acceptedTotal.inc(parsed.events.length);
    sendJson(res, 202, { accepted: parsed.events.length });
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path === '/events') {
      if (req.method !== 'POST') return sendJson(res, 405, { error: 'method not allowed' }, { allow: 'POST' });
      return handleEvents(req, res);
    }
    if (path === '/healthz' || path === '/metrics') {
      if (req.method !== 'GET' && req.method !== 'HEAD')
        return sendJson(res, 405, { error: 'method not allowed' }, { allow: 'GET, HEAD' });
      // The run, the last seq handed out and the events not yet appended let a client audit what
      // it sent (bench --http-url: the seqs between two looks, once nothing is pending).
      if (path === '/healthz')
        return sendJson(res, 200, {
          status: 'ok',
          run: runId,
          producer: producerId,
          lastSeq: producer.last,
          pending: producer.backlog,
        });
      const text = await registry.metrics();
      res.writeHead(200, { 'content-type': registry.contentType, 'cache-control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : text);
      return;
    }
    sendJson(res, 404, { error: 'not found', reason: 'try POST /events, GET /healthz or GET /metrics' });
  };

  const inFlight = new Set<Promise<void>>();
  const server = createServer((req, res) => {
    const t0 = performance.now();
    counters.requests++;
    res.once('finish', () => {
      requestsTotal.inc({ code: String(res.statusCode) });
      duration.observe((performance.now() - t0) / 1000);
      if (res.statusCode >= 400) counters.rejected++;
    });
    const p = handle(req, res)
      .catch((err: unknown) => {
        if (!res.headersSent) sendJson(res, 500, { error: 'internal error', reason: (err as Error).message });
        else res.destroy();
      })
      .finally(() => inFlight.delete(p));
    inFlight.add(p);
  });

  const port = o.port ?? 0;
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      const where = `${host}:${port}`;
      const flag = o.portFlag ?? '--port';
      if (err.code === 'EADDRINUSE')
        reject(
          new UsageError(
            'HTTP_PORT_BUSY',
            `port ${where} is already in use`,
            `pick another ${flag}, or 0 for a free one`,
          ),
        );
      else if (err.code === 'EACCES')
        reject(
          new UsageError(
            'HTTP_PORT_DENIED',
            `not allowed to listen on ${where}`,
            `use a ${flag} above 1023, or 0 for a free one`,
          ),
        );
      else
        reject(
          new RuntimeError(
            'HTTP_LISTEN_FAILED',
            `cannot listen on ${where}: ${err.message}`,
            'check --host and --port',
            err,
          ),
        );
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      server.on('error', () => {});
      resolve();
    });
  }).catch(async (err: unknown) => {
    await producer.close();
    await record('aborted');
    throw err;
  });
  const bound = (server.address() as AddressInfo).port;

  let recordBusy = false;
  const recorder = setInterval(() => {
    if (recordBusy) return;
    recordBusy = true;
    record('running')
      .catch((err: unknown) => o.log?.(`saving run ${runId} failed: ${(err as Error).message}`))
      .finally(() => (recordBusy = false));
  }, o.recordEveryMs ?? 1000);

  let closing: Promise<RunRecord> | undefined;
  const drainMs = o.drainRequestsMs ?? 10_000;
  return {
    host,
    port: bound,
    url: `http://${host.includes(':') ? `[${host}]` : host}:${bound}`,
    runId,
    producerId,
    registry,
    stats: () => ({
      ...counters,
      sent: producer.stats.sent,
      acked: producer.stats.acked,
      failed: producer.stats.failed,
    }),
    close() {
      closing ??= (async () => {
        stopping = true;
        // A step of the shutdown that takes long says so, naming what it waits for.
        const slow = async <T>(what: string, p: Promise<T>): Promise<T> => {
          const t = setTimeout(() => o.log?.(`closing: still ${what} after ${SLOW_CLOSE_MS / 1000} s`), SLOW_CLOSE_MS);
          try {
            return await p;
          } finally {
            clearTimeout(t);
          }
        };
        const closed = new Promise<void>((r) => server.close(() => r()));
        server.closeIdleConnections();
        // Requests in flight are answered (their events appended) within a bound: a client that
        // stops sending a body half way must not hold the shutdown.
        const drained = (async () => {
          while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
        })();
        const bound = new AbortController();
        await slow('answering the requests in flight', Promise.race([drained, sleep(drainMs, bound.signal)]));
        bound.abort();
        if (inFlight.size > 0)
          o.log?.(
            `closing: ${inFlight.size} request(s) still unanswered after ${drainMs / 1000} s; their connections are cut`,
          );
        server.closeAllConnections();
        await slow('waiting for the HTTP connections to close', closed);
        clearInterval(recorder);
        await slow('appending the last events', producer.close());
        await slow('saving the run record', record('done'));
        return { ...run };
      })();
      return closing;
    },
  };
}
