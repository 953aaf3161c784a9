import { Counter, Histogram, Registry } from 'prom-client';

/**
 * The ingest's Prometheus metrics, in a registry of its own (not prom-client's global one), so
 * that several ingest servers in one process, as in tests and `bench --http`, do not collide.
 */
export class IngestMetrics {
  /** The registry behind `GET /metrics`. */
  readonly registry = new Registry();
  /** Requests by status code, counted when the response is finished. */
  readonly requests = new Counter({
    name: 'streamctl_http_requests_total',
    help: 'HTTP requests by status code',
    labelNames: ['code'],
    registers: [this.registry],
  });
  readonly accepted = new Counter({
    name: 'streamctl_http_events_accepted_total',
    help: 'Events accepted (acknowledged with 202)',
    registers: [this.registry],
  });
  readonly duration = new Histogram({
    name: 'streamctl_http_request_duration_seconds',
    help: 'HTTP request duration, from the request to the end of the response',
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
}
