import type { Result as AutocannonResult } from 'autocannon';
import { RuntimeError, UsageError } from '../errors.js';
import { startHttpIngest } from '../ingest/http-ingest.js';
import { metricWorkload } from '../workload/metric-workload.js';
import { loadRun, type RunRecord } from '../pipeline/runs.js';
import type { ScriptClient } from '../pipeline/scripts/scripts.js';
import type { Topology } from '../pipeline/topology.js';
import { sleep } from '../wait.js';

/** Events per request body: the size the HTTP figures are quoted for. */
export const EVENTS_PER_BODY = 100;

/**
 * NDJSON request bodies of the metric workload, `eventsPerBody` events each. A load cycles through
 * them: the server gives every event its own seq, so a body sent twice is two sets of events.
 */
function metricNdjsonBodies(o: {
  keys: number;
  anomalyRate: number;
  seed?: number;
  bodies: number;
  eventsPerBody?: number;
}): string[] {
  const w = metricWorkload({ keys: o.keys, seed: o.seed ?? 1, anomalyRate: o.anomalyRate });
  const per = o.eventsPerBody ?? EVENTS_PER_BODY;
  return Array.from({ length: o.bodies }, () => {
    const lines = new Array<string>(per);
    for (let i = 0; i < per; i++) lines[i] = w.next().data.toString('utf8');
    return `${lines.join('\n')}\n`;
  });
}

/** What autocannon saw: the `http` part of `bench --http --json`. */
export interface HttpLoadResult {
  /** The ingest server's base URL. */
  url: string;
  /** `in-process` (started by bench) or `external` (`--http-url`). */
  server: 'in-process' | 'external';
  connections: number;
  eventsPerBody: number;
  /** Measured by autocannon, from its first request to its stop. */
  durationSeconds: number;
  /** Responses received (any status). */
  requests: number;
  requestsPerSecond: number;
  /** Events of the 2xx responses: what clients were told was accepted. */
  acceptedEvents: number;
  eventsPerSecond: number;
  /** Responses other than 2xx (503 backpressure, 400, 413, 500), and counts per status code. */
  non2xx: number;
  statusCodes: Record<string, number>;
  /** Connection errors and request timeouts. */
  errors: number;
  timeouts: number;
  /** Request latency in ms, from autocannon (2xx responses and errors). */
  latencyMs: { mean: number; p50: number; p90: number; p99: number; p999: number; max: number };
}

export interface HttpLoadOptions {
  /** The ingest server's base URL; requests go to `<url>/events`. */
  url: string;
  connections: number;
  durationMs: number;
  /** Request bodies (NDJSON), cycled through. */
  bodies: string[];
  eventsPerBody: number;
  /** Requests per second over all connections; default: as fast as the answers come. */
  requestsPerSecond?: number;
  /**
   * Worker threads that send the requests. Default 1: autocannon then has its own thread and does
   * not compete with an in-process server for this one's event loop.
   */
  workers?: number;
  signal?: AbortSignal;
}

/**
 * Posts the bodies to `<url>/events` over `connections` keep-alive connections for `durationMs`
 * (closed loop: each connection sends its next request when the previous one is answered).
 * Aborting the signal stops the load early; the result then covers what was answered so far.
 */
async function runHttpLoad(o: HttpLoadOptions): Promise<Omit<HttpLoadResult, 'server'>> {
  // Imported here: autocannon pulls in its whole CLI, which other streamctl commands do not need.
  const { default: autocannon } = await import('autocannon');
  const workers = o.workers ?? 1;
  const instance = autocannon({
    url: `${o.url}/events`,
    method: 'POST',
    // autocannon splits connections over its workers, rounding down.
    connections: Math.max(o.connections, workers),
    duration: o.durationMs / 1000,
    workers,
    ...(o.requestsPerSecond ? { overallRate: o.requestsPerSecond } : {}),
    requests: o.bodies.map((body) => ({
      method: 'POST',
      path: '/events',
      headers: { 'content-type': 'application/x-ndjson' },
      body,
    })),
  });
  let r: AutocannonResult;
  let onAbort: (() => void) | undefined;
  try {
    r = await new Promise<AutocannonResult>((resolve, reject) => {
      instance.then(resolve, reject);
      onAbort = () => {
        instance.stop();
        // In worker threads, a stopped autocannon never reports: the abort ends the wait itself.
        if (workers > 0)
          reject(new RuntimeError('HTTP_LOAD_ABORTED', 'the HTTP load was interrupted before autocannon reported'));
      };
      if (o.signal?.aborted) onAbort();
      else o.signal?.addEventListener('abort', onAbort, { once: true });
    });
  } finally {
    if (onAbort) o.signal?.removeEventListener('abort', onAbort);
  }
  const statusCodes = Object.fromEntries(Object.entries(r.statusCodeStats).map(([code, s]) => [code, s.count]));
  const requests = Object.values(statusCodes).reduce((a, n) => a + n, 0);
  const acceptedEvents = r['2xx'] * o.eventsPerBody;
  const seconds = r.duration > 0 ? r.duration : o.durationMs / 1000;
  const l = r.latency;
  return {
    url: o.url,
    connections: r.connections,
    eventsPerBody: o.eventsPerBody,
    durationSeconds: seconds,
    requests,
    requestsPerSecond: Math.round(requests / seconds),
    acceptedEvents,
    eventsPerSecond: Math.round(acceptedEvents / seconds),
    non2xx: r.non2xx,
    statusCodes,
    errors: r.errors,
    timeouts: r.timeouts,
    latencyMs: { mean: l.mean, p50: l.p50, p90: l.p90, p99: l.p99, p999: l.p99_9, max: l.max },
  };
}

export interface HttpBenchOptions {
  client: ScriptClient;
  topology: Topology;
  /** Id of the run the audit reconciles: the in-process server's run, or the slice of the external one's. */
  runId: string;
  /** A running `streamctl serve` to drive; default: start one in this process on a free port. */
  httpUrl?: string | undefined;
  connections: number;
  durationMs: number;
  /** Events per second to post at most (whole bodies); default: as fast as the answers come. */
  eventsPerSecond?: number | undefined;
  keys: number;
  anomalyRate: number;
  /** Producer settings of the in-process server. */
  batch: number;
  lingerMs: number;
  /** Backpressure of the in-process server (default: serve's, 100,000 entries). */
  maxLag?: number;
  signal?: AbortSignal;
  log?: (message: string) => void;
}

/** What `streamctl serve` reports on GET /healthz. */
interface ServeHealth {
  run: string;
  producer: string;
  /** The last seq handed out. */
  lastSeq: number;
  /** Events handed a seq and not yet appended (or given up). */
  pending: number;
}

async function serveHealth(url: string): Promise<ServeHealth> {
  let body: Partial<ServeHealth>;
  try {
    const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(5000) });
    body = (await res.json()) as Partial<ServeHealth>;
  } catch (err) {
    throw new UsageError(
      'HTTP_URL_UNREACHABLE',
      `no streamctl serve answers at ${url}/healthz: ${(err as Error).message}`,
      'start one with `streamctl serve`, or fix --http-url (e.g. http://127.0.0.1:8080)',
    );
  }
  if (
    typeof body.run !== 'string' ||
    typeof body.producer !== 'string' ||
    typeof body.lastSeq !== 'number' ||
    typeof body.pending !== 'number'
  ) {
    throw new UsageError(
      'HTTP_URL_NOT_SERVE',
      `${url}/healthz did not answer like streamctl serve`,
      '--http-url must point at `streamctl serve` (its base URL, without /events)',
    );
  }
  return body as ServeHealth;
}

/**
 * The health of the running `streamctl serve` at `url`, once it is known to append to this Redis
 * and namespace: the server records its run where it appends, so not finding it here means another.
 * @throws UsageError HTTP_SERVE_ELSEWHERE naming --redis and --namespace.
 */
export async function serveWritingHere(
  client: ScriptClient,
  topology: Topology,
  baseUrl: string,
): Promise<ServeHealth> {
  const url = baseUrl.replace(/\/+$/, '');
  const health = await serveHealth(url);
  await loadRun(client, topology.keys, health.run).catch((err: unknown) => {
    throw new UsageError(
      'HTTP_SERVE_ELSEWHERE',
      `run ${health.run} of the server at ${url} is not in namespace ${topology.keys.ns} here: ${(err as Error).message}`,
      'pass the --redis and --namespace that `streamctl serve` uses',
    );
  });
  return health;
}

/**
 * The load phase of `streamctl bench --http`: an ingest server (in this process on a free port,
 * or the running one at `httpUrl`), autocannon posting NDJSON bodies of the metric workload, and
 * the run record that the audit reconciles.
 *
 * With an external server, the run is the slice of its run between two GET /healthz (its last
 * seq before and after the load): every event accepted meanwhile, this load's and any other
 * client's, is audited.
 */
export async function httpBenchLoad(
  o: HttpBenchOptions,
): Promise<{ run: RunRecord; http: HttpLoadResult; sendSeconds: number }> {
  // Enough distinct bodies that events vary (20,000 here) while the bodies stay a few MB.
  const bodies = metricNdjsonBodies({ keys: o.keys, anomalyRate: o.anomalyRate, bodies: 200 });
  const t0 = performance.now();
  if (o.httpUrl) {
    const url = o.httpUrl.replace(/\/+$/, '');
    const before = await serveWritingHere(o.client, o.topology, url);
    o.log?.(
      `posting ${EVENTS_PER_BODY}-event NDJSON bodies to ${url}/events over ${o.connections} connection(s) for ${o.durationMs / 1000}s...`,
    );
    const load = await runHttpLoad({
      url,
      connections: o.connections,
      durationMs: o.durationMs,
      bodies,
      eventsPerBody: EVENTS_PER_BODY,
      ...(o.eventsPerSecond ? { requestsPerSecond: Math.max(1, Math.round(o.eventsPerSecond / EVENTS_PER_BODY)) } : {}),
      ...(o.signal ? { signal: o.signal } : {}),
    });
    // Requests that autocannon cut at its stop may still be appending: wait until nothing with a
    // seq is pending, so that every seq of the slice is in Redis (or given up) before the audit.
    let after = await serveHealth(url);
    for (const deadline = Date.now() + 10_000; after.pending > 0 && Date.now() < deadline && !o.signal?.aborted;) {
      await sleep(20, o.signal);
      after = await serveHealth(url);
    }
    if (after.run !== before.run)
      throw new RuntimeError(
        'HTTP_SERVE_RESTARTED',
        `the server at ${url} restarted during the load (run ${before.run}, then ${after.run})`,
        'run the bench again',
      );
    // The record is saved every second while serving: wait for one that covers the slice, so its
    // failed ranges (appends given up) are complete for it.
    let record = await loadRun(o.client, o.topology.keys, after.run);
    for (
      const deadline = Date.now() + 5000;
      record.lastSeq < after.lastSeq && Date.now() < deadline && !o.signal?.aborted;
    ) {
      await sleep(100, o.signal);
      record = await loadRun(o.client, o.topology.keys, after.run);
    }
    const firstSeq = before.lastSeq + 1;
    const lastSeq = after.lastSeq;
    const failedRanges = record.failedRanges
      .map(([a, b]): [number, number] => [Math.max(a, firstSeq), Math.min(b, lastSeq)])
      .filter(([a, b]) => a <= b);
    const failed = failedRanges.reduce((n, [a, b]) => n + b - a + 1, 0);
    const count = Math.max(0, lastSeq - firstSeq + 1);
    const run: RunRecord = {
      ...record,
      id: o.runId,
      status: 'done',
      startedAt: Date.now(),
      endedAt: Date.now(),
      rate: 0,
      firstSeq,
      lastSeq,
      sent: count,
      acked: count - failed,
      errors: 0,
      failed,
      failedRanges,
    };
    return { run, http: { ...load, server: 'external' }, sendSeconds: (performance.now() - t0) / 1000 };
  }

  const server = await startHttpIngest({
    client: o.client,
    topology: o.topology,
    port: 0,
    runId: o.runId,
    batch: o.batch,
    lingerMs: o.lingerMs,
    ...(o.maxLag !== undefined ? { maxLag: o.maxLag } : {}),
    ...(o.log ? { log: o.log } : {}),
  });
  let load: Omit<HttpLoadResult, 'server'>;
  try {
    o.log?.(
      `posting ${EVENTS_PER_BODY}-event NDJSON bodies to ${server.url}/events (in-process ingest) over ${o.connections} connection(s) for ${o.durationMs / 1000}s...`,
    );
    load = await runHttpLoad({
      url: server.url,
      connections: o.connections,
      durationMs: o.durationMs,
      bodies,
      eventsPerBody: EVENTS_PER_BODY,
      ...(o.eventsPerSecond ? { requestsPerSecond: Math.max(1, Math.round(o.eventsPerSecond / EVENTS_PER_BODY)) } : {}),
      ...(o.signal ? { signal: o.signal } : {}),
    });
  } catch (err) {
    await server.close();
    throw err;
  }
  // Closing finishes the requests still in flight (autocannon drops its connections at the end,
  // so some were answered to nobody) and saves the final run record: the audit counts those too.
  const run = await server.close();
  return { run, http: { ...load, server: 'in-process' }, sendSeconds: (performance.now() - t0) / 1000 };
}
