import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { listen } from '../listen.js';

/** Where the exposition text comes from: a prom-client Registry or a WorkerMetrics. */
export interface MetricsSource {
  metrics(): Promise<string>;
  readonly contentType: string;
}

export interface MetricsServerOptions {
  source: MetricsSource;
  /** Serves `GET /discovery`: Prometheus HTTP service discovery (JSON target groups). */
  discovery?: () => Promise<unknown>;
  /** 0 (the default) picks a free port. */
  port?: number;
  /** Default 127.0.0.1: metrics are not published beyond this machine unless asked. */
  host?: string;
}

export interface MetricsServer {
  /** The port actually bound (the chosen one when port was 0). */
  readonly port: number;
  readonly host: string;
  /** `http://host:port/metrics` */
  readonly url: string;
  /** Stops listening and drops open (keep-alive) connections. */
  close(): Promise<void>;
}

function send(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', ...headers });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

async function handle(o: MetricsServerOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const { source, discovery } = o;
  const path = new URL(req.url ?? '/', 'http://localhost').pathname;
  const paths = ['/metrics', '/healthz', ...(discovery ? ['/discovery'] : [])];
  if (!paths.includes(path)) return send(res, 404, `not found: try ${paths.join(', ')}\n`);
  if (req.method !== 'GET' && req.method !== 'HEAD')
    return send(res, 405, 'method not allowed\n', { allow: 'GET, HEAD' });
  if (path === '/healthz') return send(res, 200, 'ok\n');
  if (path === '/discovery' && discovery) {
    try {
      return send(res, 200, JSON.stringify(await discovery()), { 'content-type': 'application/json' });
    } catch (err) {
      return send(res, 500, `discovery failed: ${(err as Error).message}\n`);
    }
  }
  let text: string;
  try {
    text = await source.metrics();
  } catch (err) {
    return send(res, 500, `collecting metrics failed: ${(err as Error).message}\n`);
  }
  send(res, 200, text, { 'content-type': source.contentType });
}

/**
 * Serves `GET /metrics` (Prometheus text), `GET /healthz` (200 "ok") and, when given, `GET
 * /discovery` with node:http.
 * @throws UsageError METRICS_PORT_BUSY / METRICS_PORT_DENIED when the port cannot be bound.
 */
export async function startMetricsServer(opts: MetricsServerOptions): Promise<MetricsServer> {
  const host = opts.host ?? '127.0.0.1';
  const port = opts.port ?? 0;
  const server = createServer((req, res) => {
    handle(opts, req, res).catch((err: unknown) => {
      if (!res.headersSent) send(res, 500, `${(err as Error).message}\n`);
      else res.destroy();
    });
  });
  const bound = await listen(server, host, port, {
    code: 'METRICS',
    what: 'metrics',
    portFlag: '--metrics-port',
    failHint: 'check --metrics-port',
  });
  const urlHost = host.includes(':') ? `[${host}]` : host;
  let closing: Promise<void> | undefined;
  return {
    port: bound,
    host,
    url: `http://${urlHost}:${bound}/metrics`,
    close() {
      closing ??= new Promise<void>((done) => {
        server.close(() => done());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
