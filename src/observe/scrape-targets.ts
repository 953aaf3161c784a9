import { hostname } from 'node:os';
import { isLive, type Heartbeat } from '../pipeline/worker/heartbeats.js';

/** One target group of Prometheus's HTTP service discovery. */
export interface TargetGroup {
  targets: string[];
  labels: Record<string, string>;
}

/**
 * Prometheus HTTP service discovery from the workers' heartbeats: one target per live worker
 * process that serves metrics, labelled with its stage, worker id and pid. A worker on this host
 * is reached on 127.0.0.1, where it binds its metrics; one elsewhere by its host name.
 */
export function scrapeTargets(heartbeats: Heartbeat[], now = Date.now(), here = hostname()): TargetGroup[] {
  const byTarget = new Map<string, TargetGroup>();
  for (const h of heartbeats) {
    if (!h.metricsPort || !isLive(h, now)) continue;
    const target = `${h.host === here ? '127.0.0.1' : h.host}:${h.metricsPort}`;
    // Workers of one process share its endpoint: one target, named by the first of them.
    if (!byTarget.has(target))
      byTarget.set(target, { targets: [target], labels: { stage: h.stage, worker: h.id, pid: String(h.pid) } });
  }
  return [...byTarget.values()].sort((a, b) => a.targets[0]!.localeCompare(b.targets[0]!));
}
