import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Producer } from '../pipeline/producer.js';
import type { RoundAppender } from './append-rounds.js';
import type { ResolvedIngestOptions } from './ingest-options.js';
import type { IngestMetrics } from './ingest-metrics.js';
import type { LagGate } from './lag-gate.js';
import { parseEvents } from './parse-events.js';
import { BodyTooLarge, readBody } from '../read-body.js';

/** Requests seen, events acknowledged with 202, and requests answered 4xx/5xx. */
export interface RequestCounters {
  requests: number;
  accepted: number;
  rejected: number;
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers });
  res.end(res.req.method === 'HEAD' ? undefined : text);
}

/**
 * The requests of an ingest server: `POST /events`, `GET /healthz`, `GET /metrics`, counted and
 * timed, and tracked until answered so that a close can wait for them.
 */
export class IngestRequests {
  readonly counters: RequestCounters = { requests: 0, accepted: 0, rejected: 0 };
  private readonly inFlight = new Set<Promise<void>>();
  private stopping = false;

  constructor(
    private readonly o: Pick<ResolvedIngestOptions, 'maxBodyBytes' | 'maxLag' | 'runId' | 'producerId'>,
    private readonly parts: { producer: Producer; metrics: IngestMetrics; lag: LagGate; appender: RoundAppender },
  ) {}

  /** The request listener of the node:http server. */
  readonly listener = (req: IncomingMessage, res: ServerResponse): void => {
    const t0 = performance.now();
    const { counters, inFlight } = this;
    const { metrics } = this.parts;
    counters.requests++;
    res.once('finish', () => {
      metrics.requests.inc({ code: String(res.statusCode) });
      metrics.duration.observe((performance.now() - t0) / 1000);
      if (res.statusCode >= 400) counters.rejected++;
    });
    const p = this.handle(req, res)
      .catch((err: unknown) => {
        if (!res.headersSent) sendJson(res, 500, { error: 'internal error', reason: (err as Error).message });
        else res.destroy();
      })
      .finally(() => inFlight.delete(p));
    inFlight.add(p);
  };

  /** From now on a POST gets 503 and its connection is closed. */
  stop(): void {
    this.stopping = true;
  }

  /** Requests not answered yet. */
  get pending(): number {
    return this.inFlight.size;
  }

  /** Resolves once no request is in flight, counting those that come while it waits. */
  async drained(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path === '/events') {
      if (req.method !== 'POST') return sendJson(res, 405, { error: 'method not allowed' }, { allow: 'POST' });
      return this.handleEvents(req, res);
    }
    if (path === '/healthz' || path === '/metrics') {
      if (req.method !== 'GET' && req.method !== 'HEAD')
        return sendJson(res, 405, { error: 'method not allowed' }, { allow: 'GET, HEAD' });
      // The run, the last seq handed out and the events not yet appended let a client audit what
      // it sent (bench --http-url: the seqs between two looks, once nothing is pending).
      if (path === '/healthz')
        return sendJson(res, 200, {
          status: 'ok',
          run: this.o.runId,
          producer: this.o.producerId,
          lastSeq: this.parts.producer.last,
          pending: this.parts.producer.backlog,
        });
      const { registry } = this.parts.metrics;
      const text = await registry.metrics();
      res.writeHead(200, { 'content-type': registry.contentType, 'cache-control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : text);
      return;
    }
    sendJson(res, 404, { error: 'not found', reason: 'try POST /events, GET /healthz or GET /metrics' });
  }

  private async handleEvents(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.stopping) return sendJson(res, 503, { error: 'shutting down' }, { connection: 'close' });
    const { maxBodyBytes, maxLag } = this.o;
    let current: number;
    try {
      current = await this.parts.lag.current();
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
      body = await readBody(req, maxBodyBytes);
    } catch (err) {
      if (err instanceof BodyTooLarge) {
        sendJson(res, 413, { error: 'body too large', maxBytes: maxBodyBytes }, { connection: 'close' });
        // Stop reading: once the answer is out, drop the connection if the client keeps sending.
        res.once('finish', () => setTimeout(() => req.destroy(), 1000).unref());
        return;
      }
      throw err;
    }
    const parsed = parseEvents(body, req.headers['content-type']);
    if ('problem' in parsed) return sendJson(res, 400, parsed.problem);
    const tp = req.headers.traceparent;
    const { failed } = await this.parts.appender.append(parsed.events, typeof tp === 'string' ? tp : undefined);
    if (failed > 0)
      return sendJson(res, 500, {
        error: 'append failed',
        reason: `${failed} of ${parsed.events.length} event(s) could not be appended; their fate is unknown`,
        failed,
      });
    this.counters.accepted += parsed.events.length;
    this.parts.metrics.accepted.inc(parsed.events.length);
    sendJson(res, 202, { accepted: parsed.events.length });
  }
}
