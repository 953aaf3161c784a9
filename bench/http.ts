/**
 * HTTP ingest throughput: an embedded standalone Redis (AOF everysec), the ingest server of
 * `streamctl serve` in this process, and autocannon (in a worker thread of this process) posting
 * 100-event NDJSON bodies of the metric workload.
 *
 *   npm run bench -- http                          the ingest alone: no stage workers run
 *   npm run bench -- http --pipeline passthrough   with the passthrough pipeline's workers, then an audit
 *
 * Like the other benchmarks, it prints figures and asserts nothing.
 */
import { mkdtempSync, openSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { EVENTS_PER_BODY, httpBenchLoad, type HttpLoadResult } from '../src/bench/http-load.js';
import { audit } from '../src/pipeline/audit.js';
import { stagePending } from '../src/pipeline/backlog.js';
import { BUILTIN_PIPELINES, PASSTHROUGH_PIPELINE } from '../src/pipeline/definition.js';
import { withScripts } from '../src/pipeline/scripts/scripts.js';
import { spawnWorkers, stopWorkerProcesses } from '../src/embedded/worker-processes.js';
import { ensureTopology } from '../src/pipeline/topology.js';
import { createRedisFactory } from '../src/redis/connection.js';
import { deploymentUrls, startDeployment, stopDeployment } from '../src/embedded/deployment.js';
import { parseRedisUrls } from '../src/redis/endpoint.js';
import { infoNumber, parseInfo } from '../src/redis/info.js';
import { findRedisServer } from '../src/embedded/redis-server.js';
import { sleep } from '../src/wait.js';

/** What `benchHttp` measured: autocannon's figures, and with workers the end-to-end rate and the audit. */
type HttpBenchFigures = HttpLoadResult & {
  endToEndEventsPerSecond?: number;
  audit?: { delivered: number; lost: number; duplicates: number };
};

/** Runs the HTTP ingest benchmark (see the module comment), prints its figures and returns them. */
export async function benchHttp(opts: {
  pipeline?: string | undefined;
  durationMs?: number;
  connections?: number;
}): Promise<HttpBenchFigures> {
  const durationMs = opts.durationMs ?? 10_000;
  const connections = opts.connections ?? 16;
  const definition = opts.pipeline ? BUILTIN_PIPELINES[opts.pipeline] : undefined;
  if (opts.pipeline && !definition)
    throw new Error(`unknown pipeline "${opts.pipeline}" (known: ${Object.keys(BUILTIN_PIPELINES).join(', ')})`);
  const stages = (definition ?? PASSTHROUGH_PIPELINE).stages;
  const home = mkdtempSync(join(tmpdir(), 'streamctl-bench-http-'));
  const { deployment } = await startDeployment({
    home,
    bin: findRedisServer(undefined, process.env.PATH),
    mode: 'standalone',
    primaries: 1,
    replicas: 0,
    basePort: 24_000,
    persist: true,
    nodeTimeoutMs: 2000,
    detached: false,
    fresh: true,
  });
  const urls = deploymentUrls(deployment);
  const conn = await createRedisFactory().open({ endpoints: parseRedisUrls(urls.join(',')), source: '--redis' });
  const ns = 'bench-http';
  try {
    const client = withScripts(conn.client());
    const topology = await ensureTopology(client, ns, stages);
    const workers = definition
      ? spawnWorkers({
          stages,
          redisUrls: urls,
          namespace: ns,
          pipeline: opts.pipeline,
          home,
          detached: false,
          logFd: openSync('/dev/null', 'w'),
          env: process.env,
        })
      : [];
    if (workers.length) await sleep(1000); // let the workers take their leases before the clock starts
    console.log(
      `HTTP ingest: in-process server, autocannon in a worker thread, ${connections} connections, ${EVENTS_PER_BODY}-event NDJSON bodies, ${durationMs / 1000}s; ` +
        `standalone Redis (AOF everysec) co-located; ${workers.length ? `${opts.pipeline} pipeline workers (${workers.length} processes)` : 'no stage workers'}; ${availableParallelism()} cores`,
    );
    const redisCpu = async () => {
      const info = parseInfo(await client.info('cpu'));
      return (infoNumber(info, 'used_cpu_user') ?? 0) + (infoNumber(info, 'used_cpu_sys') ?? 0);
    };
    const cpu0 = { self: process.cpuUsage(), redis: await redisCpu(), t: performance.now() };
    const { run, http } = await httpBenchLoad({
      client,
      topology,
      runId: `bench-http-${Date.now().toString(36)}`,
      connections,
      durationMs,
      keys: 1000,
      anomalyRate: 0.01,
      batch: 100,
      lingerMs: 5,
      // With no workers the stage groups' lag only grows (past 100,000 entries in a fast run): no
      // backpressure, to measure the ingest alone.
      ...(workers.length ? {} : { maxLag: Number.MAX_SAFE_INTEGER }),
    });
    const seconds = (performance.now() - cpu0.t) / 1000;
    const self = process.cpuUsage(cpu0.self);
    const redis = (await redisCpu()) - cpu0.redis;
    console.log(
      'REQ/S     EVENTS/S    P50 ms  P90 ms  P99 ms  MAX ms  NON-2XX  ERRORS  ACKED EVENTS  CPU bench%  CPU redis%',
    );
    console.log(
      `${http.requestsPerSecond.toLocaleString('en').padEnd(9)} ${http.eventsPerSecond.toLocaleString('en').padEnd(11)} ${String(http.latencyMs.p50).padEnd(7)} ${String(http.latencyMs.p90).padEnd(7)} ${String(http.latencyMs.p99).padEnd(7)} ${String(http.latencyMs.max).padEnd(7)} ` +
        `${String(http.non2xx).padEnd(8)} ${String(http.errors).padEnd(7)} ${run.acked.toLocaleString('en').padEnd(13)} ${String(Math.round(((self.user + self.system) / 1e6 / seconds) * 100)).padEnd(11)} ${Math.round((redis / seconds) * 100)}`,
    );
    // Stream entries per append: the ingest appends each round's events per partition, so fewer,
    // larger entries mean more requests per round.
    const entries = (
      await Promise.all(
        Array.from({ length: topology.partitions }, (_, k) => client.xlen(topology.keys.stream(k, 'ingest'))),
      )
    ).reduce((a, n) => a + n, 0);
    console.log(
      `ingest: ${entries.toLocaleString('en')} stream entries, ${(run.acked / Math.max(1, entries)).toFixed(1)} events per entry`,
    );
    if (http.non2xx || http.errors)
      console.log(
        `status codes: ${JSON.stringify(http.statusCodes)}, errors ${http.errors}, timeouts ${http.timeouts}`,
      );
    if (workers.length) {
      for (const deadline = Date.now() + 120_000; Date.now() < deadline;) {
        const p = await stagePending(client, topology);
        if (p.every((s) => s.lag === 0 && s.pending === 0)) break;
        await sleep(50);
      }
      const endToEnd = run.acked / ((performance.now() - cpu0.t) / 1000);
      const verdict = await audit(client, topology, run);
      console.log(
        `end to end (first request until every stage drained): ${Math.round(endToEnd).toLocaleString('en')} events/s`,
      );
      console.log(
        `audit: produced ${verdict.produced.toLocaleString('en')}, delivered ${verdict.delivered.toLocaleString('en')}, lost ${verdict.lost}, duplicates ${verdict.duplicates}`,
      );
      await stopWorkerProcesses(workers, 10_000);
      return {
        ...http,
        endToEndEventsPerSecond: Math.round(endToEnd),
        audit: { delivered: verdict.delivered, lost: verdict.lost, duplicates: verdict.duplicates },
      };
    }
    return http;
  } finally {
    await conn.close();
    await stopDeployment(home, deployment, { keepData: false });
    rmSync(home, { recursive: true, force: true });
  }
}
