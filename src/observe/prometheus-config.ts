import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';

/** The deployment's rules (recording and alerting), shipped with the package. */
export const RULES_FILE = 'streamctl-rules.yml';

/** The folder of the Prometheus files shipped with the package (`deploy/prometheus/`). */
export function prometheusFolder(): string {
  for (const rel of ['../../../deploy/prometheus/', '../../deploy/prometheus/']) {
    const path = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(`${path}${RULES_FILE}`)) return path;
  }
  throw new Error('cannot find the deploy/prometheus/ folder of the package');
}

export interface PrometheusConfigOptions {
  /** host:port of the deployment's metrics endpoint (the supervisor's), which also serves the workers' discovery. */
  deployment: string;
  /** Rule files, as Prometheus will find them. */
  ruleFiles: string[];
  /** How often targets are scraped and rules evaluated (default 5s). */
  interval?: string;
}

/**
 * A Prometheus configuration for a streamctl deployment: its own metrics, and every worker's, found
 * by HTTP service discovery from the heartbeats, refreshed as often as scraped, so Prometheus
 * follows workers across restarts (each restart serves on a new port).
 */
export function prometheusConfig(o: PrometheusConfigOptions): string {
  const interval = o.interval ?? '5s';
  return stringify({
    global: { scrape_interval: interval, evaluation_interval: interval },
    rule_files: o.ruleFiles,
    scrape_configs: [
      { job_name: 'streamctl-deployment', static_configs: [{ targets: [o.deployment] }] },
      {
        job_name: 'streamctl-workers',
        http_sd_configs: [{ url: `http://${o.deployment}/discovery`, refresh_interval: interval }],
      },
    ],
  });
}
