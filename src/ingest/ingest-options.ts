import type { ScriptClient } from '../pipeline/scripts/scripts.js';
import type { Topology } from '../pipeline/topology.js';
import { PRODUCER_DEFAULTS } from '../pipeline/producer.js';
import { newRunId } from '../pipeline/runs.js';
import { withDefaults } from '../defaults.js';
import type { BatchTracer } from '../pipeline/batch-tracer.js';

/** Options of `startHttpIngest`. An omitted one takes its value from {@link INGEST_DEFAULTS}. */
export interface HttpIngestOptions {
  /** A client with streamctl's scripts (`withScripts(conn.client())`). */
  client: ScriptClient;
  /** The namespace's topology; its stages are the ones whose lag is checked. */
  topology: Topology;
  /** Address to listen on. */
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** The flag that sets `port`, named in the hint when it cannot be bound. */
  portFlag?: string;
  /** Largest accepted request body in bytes: 413 above. */
  maxBodyBytes?: number;
  /** Pipeline lag (undelivered entries summed over stages) above which POSTs get 503. */
  maxLag?: number;
  /** How long a computed lag is reused (ms). */
  lagRefreshMs?: number;
  /** Producer: events per stream entry, and how long a partial batch waits (ms). */
  batch?: number;
  lingerMs?: number;
  durable?: boolean;
  /** Default: a fresh `<time36>-<hex>` id. */
  runId?: string;
  /** Default: `http-<run id>`. */
  producerId?: string;
  /** At close, how long requests in flight get to be answered before their connections are cut (ms). */
  drainRequestsMs?: number;
  /** How often the run record is saved while serving (ms). */
  recordEveryMs?: number;
  /** Background problems (a failed run-record save, a slow close); default: ignored. */
  log?: (message: string) => void;
  /** Spans around the appends (tracing on); a request's `traceparent` header is continued. */
  tracer?: BatchTracer | undefined;
}

type DefaultedOption =
  | 'host'
  | 'port'
  | 'portFlag'
  | 'maxBodyBytes'
  | 'maxLag'
  | 'lagRefreshMs'
  | 'batch'
  | 'lingerMs'
  | 'durable'
  | 'drainRequestsMs'
  | 'recordEveryMs';

/**
 * The ingest's defaults, in one place: `serve` and `up --http` read the ones their flags repeat
 * from here, so a flag's default and the library's cannot drift apart.
 */
export const INGEST_DEFAULTS: Readonly<Required<Pick<HttpIngestOptions, DefaultedOption>>> = {
  host: '127.0.0.1',
  port: 0,
  portFlag: '--port',
  maxBodyBytes: 1024 * 1024,
  maxLag: 100_000,
  lagRefreshMs: 500,
  batch: PRODUCER_DEFAULTS.batch,
  lingerMs: PRODUCER_DEFAULTS.lingerMs,
  durable: PRODUCER_DEFAULTS.durable,
  drainRequestsMs: 10_000,
  recordEveryMs: 1000,
};

/** The options with every default applied: what the parts of the ingest are built from. */
export type ResolvedIngestOptions = Readonly<
  Required<Omit<HttpIngestOptions, 'log' | 'tracer'>> & Pick<HttpIngestOptions, 'log' | 'tracer'>
>;

/** Applies {@link INGEST_DEFAULTS} and derives the run and producer ids. */
export function resolveIngestOptions(o: HttpIngestOptions): ResolvedIngestOptions {
  const runId = o.runId ?? newRunId();
  return withDefaults<ResolvedIngestOptions>({ ...INGEST_DEFAULTS, runId, producerId: `http-${runId}` }, o);
}
