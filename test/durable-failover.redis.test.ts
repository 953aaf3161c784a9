import { describe, expect, it } from 'vitest';
import { isNodeAlive } from '../src/embedded/redis-server.js';
import { waitFor } from '../src/wait.js';
import { finished, runCli, spawnCli } from './helpers/cli.js';
import { detachedDeployment } from './helpers/detached-deployment.js';

/**
 * `produce --durable` on the embedded 3+3 cluster (one per file, detached, default pipeline)
 * through the SIGKILL of a primary: the promoted replica has no replica of its own until the
 * supervisor brings the failed node back as one, and meanwhile no append may count as acked. The run
 * must still end near its planned time (not a second per append), and lose nothing it acked.
 */
const { dir, record, health } = detachedDeployment('streamctl-durable-');

describe('durable produce through a primary failover', () => {
  it('SIGKILL of a primary under produce --durable: the run ends near its planned time, verify: lost 0', async () => {
    const seconds = 15;
    const rate = 2000;
    const t0 = performance.now();
    const produced = finished(
      spawnCli(['produce', '--home', dir, '--durable', '--rate', String(rate), '--duration', `${seconds}s`, '--json']),
    );
    const victim = record().nodes.find((n) => n.role === 'primary' && isNodeAlive(n.pid, n.port))!;
    await waitFor(
      async () => ((await health()).report.workers.some((w) => w.live && w.received > 0) ? true : undefined),
      {
        timeoutMs: 20_000,
        intervalMs: 250,
        onTimeout: () => new Error('no load on the cluster in 20 s'),
      },
    );
    const killedAt = performance.now() - t0;
    process.kill(victim.pid, 'SIGKILL');
    // The failover and the node's return as a replica happen while the run goes on.
    const address = `127.0.0.1:${victim.port}`;
    await waitFor(
      async () => {
        const n = (await health()).report.nodes.find((x) => x.address === address);
        return n?.up === true && n.role === 'replica' ? true : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 250, onTimeout: () => new Error(`${address} not back as a replica in 60 s`) },
    );
    const backAt = performance.now() - t0;

    const r = await produced;
    const ms = performance.now() - t0;
    console.log(
      `produce --durable, ${seconds} s at ${rate} events/s, primary SIGKILL at ${(killedAt / 1000).toFixed(1)} s, ` +
        `back as a replica by ${(backAt / 1000).toFixed(1)} s: the run ended in ${(ms / 1000).toFixed(1)} s; ${r.stdout.replace(/\s+/g, ' ')}`,
    );
    expect(killedAt).toBeLessThan(seconds * 1000 * 0.6);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const result = JSON.parse(r.stdout) as { sent: number; acked: number; failed: number; notDurable: number };
    // Paced against the clock: the last event or so may fall past the duration.
    expect(result.sent).toBeGreaterThanOrEqual(seconds * rate * 0.99);
    expect(result).toMatchObject({ acked: result.sent, failed: 0, notDurable: 0 });
    // Not a replica's timeout per append: within a generous bound of the planned time.
    expect(ms).toBeLessThan(5 * seconds * 1000);

    const v = await runCli(['verify', '--home', dir, '--wait', '60s', '--json']);
    expect(v.code, v.stderr).toBe(0);
    const audit = JSON.parse(v.stdout) as { lost: number; duplicates: number; produced: number };
    expect(audit.produced).toBe(result.acked);
    expect([audit.lost, audit.duplicates]).toEqual([0, 0]);
  }, 180_000);
});
