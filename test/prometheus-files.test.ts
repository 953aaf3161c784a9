import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { runCli } from './helpers/cli.js';
import { REDIS_SERVER, tempDir } from './helpers/redis.js';
import { IngestMetrics } from '../src/ingest/ingest-metrics.js';
import { prometheusConfig, prometheusFolder, RULES_FILE } from '../src/observe/prometheus-config.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

function run(cmd: string, args: string[], cwd = ROOT) {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8' });
  if (r.error) throw r.error;
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('the Prometheus rules, checked and unit-tested by promtool', () => {
  it('`promtool check rules` accepts them', () => {
    const r = run('promtool', ['check', 'rules', join(prometheusFolder(), RULES_FILE)]);
    expect(r.out).toContain('SUCCESS');
    expect(r.code).toBe(0);
  });

  it('`promtool test rules`: every alert fires and resolves when its test says', () => {
    const r = run('promtool', ['test', 'rules', 'streamctl-rules.test.yml'], prometheusFolder());
    expect(r.out).toContain('SUCCESS');
    expect(r.code).toBe(0);
  });

  it('a broken expectation fails the rule tests (the test file is read, not skipped)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'streamctl-rules-'));
    try {
      copyFileSync(join(prometheusFolder(), RULES_FILE), join(dir, RULES_FILE));
      const tests = readFileSync(join(prometheusFolder(), 'streamctl-rules.test.yml'), 'utf8');
      const broken = tests.replace("summary: 'a Redis replica was promoted", "summary: 'no replica was promoted");
      expect(broken).not.toBe(tests);
      writeFileSync(join(dir, 'broken.test.yml'), broken);
      const r = run('promtool', ['test', 'rules', 'broken.test.yml'], dir);
      expect(r.out).toContain('alertname: StreamctlFailover');
      expect(r.code).not.toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('promtool check metrics', () => {
  it("passes on `serve`'s metrics", async () => {
    const m = new IngestMetrics();
    m.requests.inc({ code: '202' });
    m.accepted.inc(100);
    m.duration.observe(0.004);
    const r = spawnSync('promtool', ['check', 'metrics'], { input: await m.registry.metrics(), encoding: 'utf8' });
    expect(`${r.stdout}${r.stderr}`.trim()).toBe('');
    expect(r.status).toBe(0);
  });
});

describe('the compose stack', () => {
  it('mounts the Prometheus configuration the generator gives (the one `up --prometheus` runs), which promtool accepts', () => {
    const file = join(prometheusFolder(), 'prometheus.yml');
    const text = readFileSync(file, 'utf8');
    const body = text.replace(/^(#.*\n)+/, '');
    expect(body).toBe(
      prometheusConfig({ deployment: '127.0.0.1:9464', ruleFiles: ['/etc/prometheus/streamctl-rules.yml'] }),
    );
    const r = run('promtool', ['check', 'config', '--syntax-only', file]);
    expect(r.code, r.out).toBe(0);
  });

  it('`docker-compose config` accepts the file; everything it mounts or builds from exists', () => {
    const check = run('docker-compose', [
      '--profile',
      'producer',
      '--profile',
      'redis',
      '--profile',
      'cluster',
      'config',
    ]);
    expect(check.code, check.out).toBe(0);
    const config = parse(check.out) as {
      services: Record<
        string,
        { build?: { context: string; dockerfile?: string }; volumes?: (string | { type: string; source: string })[] }
      >;
    };
    const services = Object.keys(config.services);
    for (const s of ['streamctl', 'producer', 'prometheus', 'grafana', 'jaeger']) expect(services).toContain(s);
    // docker-compose 1.x prints the short syntax (SOURCE:TARGET:MODE), 2.x the long one.
    const binds = Object.values(config.services)
      .flatMap((s) => s.volumes ?? [])
      .flatMap((v) =>
        typeof v === 'string' ? (v.startsWith('/') ? [v.split(':')[0]!] : []) : v.type === 'bind' ? [v.source] : [],
      );
    expect(binds).toContain(join(ROOT, 'deploy/prometheus/prometheus.yml'));
    expect(binds).toContain(join(ROOT, 'deploy/grafana/dashboards'));
    for (const b of binds) expect(existsSync(b), b).toBe(true);
    const build = config.services.streamctl!.build!;
    const dockerfile = join(build.context, build.dockerfile ?? 'Dockerfile');
    expect(existsSync(dockerfile)).toBe(true);
    // Every path the Dockerfile copies from the context.
    const copied = readFileSync(dockerfile, 'utf8')
      .split('\n')
      .filter((l) => /^COPY (?!--from)/.test(l))
      .flatMap((l) => l.split(/\s+/).slice(1, -1));
    expect(copied.length).toBeGreaterThan(3);
    for (const c of copied) expect(existsSync(join(build.context, c)), c).toBe(true);
  });

  it('the dashboard queries the datasource that Grafana is provisioned with', () => {
    const ds = parse(readFileSync(join(ROOT, 'deploy/grafana/provisioning/datasources/prometheus.yml'), 'utf8')) as {
      datasources: { uid: string }[];
    };
    const dashboard = JSON.parse(readFileSync(join(ROOT, 'deploy/grafana/dashboards/streamctl.json'), 'utf8')) as {
      panels: { datasource: { uid: string }; targets: { datasource: { uid: string } }[] }[];
    };
    const uids = new Set(
      dashboard.panels.flatMap((p) => [p.datasource.uid, ...p.targets.map((t) => t.datasource.uid)]),
    );
    expect([...uids]).toEqual([ds.datasources[0]!.uid]);
  });
});

describe('up --prometheus without the prometheus binary', () => {
  it('says how to install it, exits 1 and starts nothing', async () => {
    const tmp = tempDir('streamctl-noprom-');
    try {
      // A PATH with redis-server on it and no prometheus.
      mkdirSync(join(tmp.dir, 'bin'));
      symlinkSync(REDIS_SERVER, join(tmp.dir, 'bin', 'redis-server'));
      const home = join(tmp.dir, 'home');
      const up = await runCli(['up', '--detach', '--prometheus', '--home', home], {
        env: { PATH: join(tmp.dir, 'bin') },
      });
      expect(up.code).toBe(1);
      expect(up.stderr).toContain('prometheus binary was not found on PATH');
      expect(up.stderr).toContain('apt-get install prometheus');
      expect(existsSync(join(home, 'deployment.json'))).toBe(false);
    } finally {
      tmp.remove();
    }
  });
});
