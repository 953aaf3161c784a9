import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import type { EventsNearLoss } from '../src/embedded/events-near-loss.js';
import type { AuditReport } from '../src/pipeline/audit.js';
import { waitFor } from '../src/wait.js';
import { finished, runCli, spawnCli } from './helpers/cli.js';
import { detachedDeployment } from './helpers/detached-deployment.js';

/**
 * A real loss of acknowledged events on the embedded 3+3 cluster: the replica of one primary is
 * paused and its link cut while the producer (not durable) appends to that primary, then the
 * primary is killed and the replica, resumed, is promoted without those appends. `verify` must report them lost and set
 * the failover beside them.
 */
const { dir, first } = detachedDeployment('streamctl-verify-loss-');

/** The primary's replication offset: how many bytes of writes it has taken. */
async function offset(node: Redis): Promise<number> {
  const m = /master_repl_offset:(\d+)/.exec(await node.info('replication'));
  return Number(m?.[1] ?? 0);
}

describe('verify after a primary kill that loses acknowledged events', () => {
  it('reports the lost seqs with the failover beside them', async () => {
    const primary = first().nodes.find((n) => n.role === 'primary')!;
    const replica = first().nodes.find((n) => n.replicaOf === primary.port)!;
    const address = `127.0.0.1:${primary.port}`;
    const node = new Redis({ port: primary.port, host: '127.0.0.1', maxRetriesPerRequest: 0, lazyConnect: true });
    await node.connect();
    const produced = finished(spawnCli(['produce', '--home', dir, '--rate', '4000', '--duration', '8s', '--json']));
    try {
      const start = await offset(node);
      await waitFor(async () => ((await offset(node)) > start + 20_000 ? true : undefined), {
        timeoutMs: 20_000,
        intervalMs: 20,
        onTimeout: () => new Error('produce did not write 20 KB to the primary'),
      });
      process.kill(replica.pid, 'SIGSTOP');
      let paused = true;
      try {
        // Cutting the link drops what the kernel still had to send; what follows is written and
        // acknowledged to the producer (no WAIT without --durable) on the primary alone.
        expect(await node.call('CLIENT', 'KILL', 'TYPE', 'replica')).toBeGreaterThan(0);
        const before = await offset(node);
        await waitFor(async () => ((await offset(node)) > before + 50_000 ? true : undefined), {
          timeoutMs: 5_000,
          intervalMs: 10,
          onTimeout: () => new Error('produce did not write 50 KB more to the primary'),
        });
        process.kill(primary.pid, 'SIGKILL');
        process.kill(replica.pid, 'SIGCONT');
        paused = false;
      } finally {
        if (paused) process.kill(replica.pid, 'SIGCONT');
      }
    } finally {
      node.disconnect();
    }
    const p = await produced;
    console.log(`produce after the kill: exit ${p.code}, ${p.stdout.trim().split('\n').pop()}`);

    const v = await runCli(['verify', '--home', dir, '--wait', '60s', '--json']);
    expect(v.code, v.stderr).toBe(1);
    const report = JSON.parse(v.stdout) as AuditReport & { deploymentEvents?: EventsNearLoss };
    expect(report.lost).toBeGreaterThan(0);
    expect(report.lostRanges.length).toBeGreaterThan(0);
    expect(report.deploymentEvents?.basis).toBe('sent');
    const near = report.deploymentEvents!.events.filter((e) => e.process === address).map((e) => e.kind);
    expect(near).toContain('exit');
    expect(near).toContain('failover');

    const text = await runCli(['verify', '--home', dir, '--wait', '0']);
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/lost seqs: \d+/);
    expect(text.stdout).toMatch(/deployment events near the lost seqs' send times/);
    expect(text.stdout).toMatch(new RegExp(`failover\\s+${address.replace(/\./g, '\\.')}`));
    console.log(text.stdout);
  }, 180_000);
});
