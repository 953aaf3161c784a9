import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';
import { Producer } from '../pipeline/producer.js';
import type { RunRecord } from '../pipeline/runs.js';
import { sleep } from '../wait.js';
import { RoundAppender } from './append-rounds.js';
import { resolveIngestOptions, type HttpIngestOptions, type ResolvedIngestOptions } from './ingest-options.js';
import { IngestMetrics } from './ingest-metrics.js';
import { IngestRequests } from './ingest-requests.js';
import { LagGate } from './lag-gate.js';
import { listen } from '../listen.js';
import { RunRecorder } from '../pipeline/run-recorder.js';

/** A shutdown step slower than this is logged. */
const SLOW_CLOSE_MS = 5_000;

/** What an ingest server has done since it started. */
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

/** A running ingest server, as `startHttpIngest` returns it. */
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

/**
 * Starts the HTTP ingest server: `POST /events` (JSON array or NDJSON) through one idempotent
 * producer, `GET /healthz`, `GET /metrics`. The run is recorded like a `produce` run, so
 * `streamctl verify --run <id>` audits exactly what was accepted.
 * @throws UsageError HTTP_PORT_BUSY / HTTP_PORT_DENIED when the port cannot be bound.
 */
export async function startHttpIngest(options: HttpIngestOptions): Promise<HttpIngest> {
  const o = resolveIngestOptions(options);
  const { client, topology } = o;
  const metrics = new IngestMetrics();
  const producer = new Producer({
    client,
    topology,
    producerId: o.producerId,
    batch: o.batch,
    lingerMs: o.lingerMs,
    durable: o.durable,
    tracer: o.tracer,
  });
  await producer.init();
  const recorder = new RunRecorder(client, topology, producer, o);
  await recorder.save('running');

  const requests = new IngestRequests(o, {
    producer,
    metrics,
    lag: new LagGate(client, topology, o.lagRefreshMs),
    appender: new RoundAppender(producer),
  });
  const server = createServer(requests.listener);
  const port = await listen(server, o.host, o.port, {
    code: 'HTTP',
    portFlag: o.portFlag,
    failHint: 'check --host and --port',
  }).catch(async (err: unknown) => {
    await producer.close();
    await recorder.save('aborted');
    throw err;
  });
  recorder.startPeriodic(o.recordEveryMs, o.log);

  let closing: Promise<RunRecord> | undefined;
  return {
    host: o.host,
    port,
    url: `http://${o.host.includes(':') ? `[${o.host}]` : o.host}:${port}`,
    runId: o.runId,
    producerId: o.producerId,
    registry: metrics.registry,
    stats: () => ({
      ...requests.counters,
      sent: producer.stats.sent,
      acked: producer.stats.acked,
      failed: producer.stats.failed,
    }),
    close() {
      closing ??= closeIngest(o, { server, requests, producer, recorder });
      return closing;
    },
  };
}

/**
 * The orderly close: stop accepting, answer the requests in flight within `drainRequestsMs` and
 * cut the connections of those that are not, append what the producer still holds, then save the
 * final run record and return it.
 */
async function closeIngest(
  o: ResolvedIngestOptions,
  parts: { server: Server; requests: IngestRequests; producer: Producer; recorder: RunRecorder },
): Promise<RunRecord> {
  const { server, requests, producer, recorder } = parts;
  requests.stop();
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
  // Requests in flight are answered (their events appended) within a bound: a client that stops
  // sending a body half way must not hold the shutdown.
  const drained = requests.drained();
  const bound = new AbortController();
  await slow('answering the requests in flight', Promise.race([drained, sleep(o.drainRequestsMs, bound.signal)]));
  bound.abort();
  if (requests.pending > 0)
    o.log?.(
      `closing: ${requests.pending} request(s) still unanswered after ${o.drainRequestsMs / 1000} s; their connections are cut`,
    );
  server.closeAllConnections();
  await slow('waiting for the HTTP connections to close', closed);
  recorder.stopPeriodic();
  await slow('appending the last events', producer.close());
  await slow('saving the run record', recorder.save('done'));
  return recorder.snapshot();
}
