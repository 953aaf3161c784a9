import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { prometheusFolder, RULES_FILE } from '../src/observe/prometheus-config.js';
import { Producer } from '../src/pipeline/producer.js';
import { withScripts } from '../src/pipeline/scripts/scripts.js';
import { existingTopology } from '../src/pipeline/topology.js';
import { waitFor } from '../src/wait.js';
import { runCli } from './helpers/cli.js';
import { detachedDeployment } from './helpers/detached-deployment.js';
import { connectTo } from './helpers/io.js';

/** A port nothing listens on now. */
async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

const promPort = await freePort();
const prom = `http://127.0.0.1:${promPort}`;
// --restart never: a killed worker stays down until `streamctl restart`, so the stage stays short
// of workers for as long as the alert needs.
const dep = detachedDeployment('streamctl-prom-', [
  '--prometheus',
  '--prometheus-port',
  String(promPort),
  '--restart',
  'never',
]);

interface Target {
  labels: Record<string, string>;
  scrapeUrl: string;
  health: string;
}

async function api<T>(path: string): Promise<T> {
  const res = await fetch(`${prom}${path}`);
  const body = (await res.json()) as { status: string; data: T };
  if (body.status !== 'success') throw new Error(`${path}: ${JSON.stringify(body)}`);
  return body.data;
}

const targets = async () => (await api<{ activeTargets: Target[] }>('/api/v1/targets')).activeTargets;
const query = async (expr: string) =>
  (await api<{ result: { metric: Record<string, string> }[] }>(`/api/v1/query?query=${encodeURIComponent(expr)}`))
    .result;
const alerts = async (name: string) =>
  (await api<{ alerts: { labels: Record<string, string>; state: string }[] }>('/api/v1/alerts')).alerts.filter(
    (a) => a.labels.alertname === name,
  );

function until<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>): Promise<T> {
  let last: unknown;
  return waitFor(
    async () => {
      try {
        return await check();
      } catch (err) {
        last = err;
        return undefined;
      }
    },
    { timeoutMs, intervalMs: 500, onTimeout: () => new Error(`${what} not seen in ${timeoutMs} ms (${String(last)})`) },
  );
}

/** Worker targets up, by scrape URL. */
async function workersUp(): Promise<string[]> {
  return (await targets())
    .filter((t) => t.labels.job === 'streamctl-workers' && t.health === 'up')
    .map((t) => t.scrapeUrl)
    .sort();
}

describe('up --prometheus: a real Prometheus scraping the deployment', () => {
  it('finds every worker, follows a restart, fires and resolves the worker alert, and every dashboard panel has data', async () => {
    const record = dep.record();
    expect(record.prometheus?.url).toBe(prom);
    expect(readFileSync(record.prometheus!.config, 'utf8')).toContain(`${prometheusFolder()}${RULES_FILE}`);

    // Every target up: the deployment and the two workers, found through the discovery endpoint.
    const before = await until('the deployment and 2 worker targets up', 30_000, async () => {
      const all = await targets();
      const deployment = all.find((t) => t.labels.job === 'streamctl-deployment');
      const workers = await workersUp();
      return deployment?.health === 'up' && workers.length === 2 ? workers : undefined;
    });

    // Every endpoint Prometheus scrapes passes `promtool check metrics`.
    for (const t of await targets()) {
      const text = await (await fetch(t.scrapeUrl)).text();
      const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
      expect(`${check.stdout}${check.stderr}`.trim(), t.scrapeUrl).toBe('');
      expect(check.status).toBe(0);
    }

    // A load, with one event the default pipeline cannot decode: it is dead-lettered.
    const load = dep.load(12, 1000);
    const conn = await connectTo(record.nodes.map((n) => `redis://${record.host}:${n.port}`).join(','));
    try {
      const topology = await existingTopology(conn.client(), 'streamctl', 'the deployment');
      const producer = new Producer({ client: withScripts(conn.client()), topology, producerId: 'prom-test-bad' });
      await producer.init();
      producer.send('bad-key', Buffer.from('not a metric record'), Date.now());
      await producer.close();
      expect(producer.stats.acked).toBe(1);
    } finally {
      await conn.close();
    }

    // A worker killed (SIGKILL, not a chaos fault, which would start it again when it ends): with
    // --restart never the stage stays short of workers and the alert fires.
    const victim = (await dep.health()).report.deployment!.processes.find((p) => p.kind === 'worker' && p.alive)!;
    process.kill(victim.pid!, 'SIGKILL');
    await until('StreamctlStageShortOfWorkers firing', 60_000, async () =>
      (await alerts('StreamctlStageShortOfWorkers')).some((a) => a.state === 'firing' && a.labels.stage === 'analyze')
        ? true
        : undefined,
    );
    const dead = (await dep.health()).report.deployment!.processes.find((p) => p.name === victim.name)!;
    expect(dead.alive).toBe(false);
    const restart = await runCli(['restart', dead.name, '--home', dep.dir]);
    expect(restart.code, restart.stderr).toBe(0);

    // The restarted worker serves on a new port: Prometheus follows it, and the alert resolves.
    await until('2 worker targets up again, one of them new', 30_000, async () => {
      const now = await workersUp();
      return now.length === 2 && now.some((u) => !before.includes(u)) ? now : undefined;
    });
    await until('StreamctlStageShortOfWorkers resolved', 60_000, async () =>
      (await alerts('StreamctlStageShortOfWorkers')).length === 0 ? true : undefined,
    );
    expect((await load).code).toBe(0);

    await until('the dead letter counted', 30_000, async () =>
      (await query('streamctl_stage_dead_letters{stage="analyze"} >= 1')).length ? true : undefined,
    );
    // Every query of every dashboard panel returns a series ($__rate_interval as Grafana would set it).
    const dashboard = JSON.parse(
      readFileSync(new URL('../deploy/grafana/dashboards/streamctl.json', import.meta.url), 'utf8'),
    ) as { panels: { title: string; targets: { expr: string }[] }[] };
    const exprs = dashboard.panels.flatMap((p) => p.targets.map((t) => ({ panel: p.title, expr: t.expr })));
    expect(exprs.length).toBeGreaterThanOrEqual(12);
    const empty = await until('a series for every panel query', 60_000, async () => {
      const missing: string[] = [];
      for (const { panel, expr } of exprs)
        if ((await query(expr.replaceAll('$__rate_interval', '1m'))).length === 0) missing.push(`${panel}: ${expr}`);
      return missing.length === 0 ? missing : undefined;
    });
    expect(empty).toEqual([]);
  }, 240_000);
});
