import { describe, expect, it } from 'vitest';
import { cleanupAfterEach } from './helpers/cleanup.js';
import { finished, spawnCli } from './helpers/cli.js';
import { startRedis } from './helpers/redis.js';

const cleanup = cleanupAfterEach();

describe('progress off a terminal', () => {
  it('produce writes a plain progress line to a piped stderr while it runs, not only at its end', async () => {
    const server = await startRedis();
    cleanup(() => server.stop());
    const child = spawnCli(['produce', '--redis', server.url, '-n', 'progress', '--rate', '2000', '--duration', '7s']);
    const done = finished(child);
    cleanup(async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await done;
    });
    let stderr = '';
    const firstLine = await new Promise<{ line: string; running: boolean }>((resolve, reject) => {
      child.stderr!.on('data', (c) => {
        stderr += c;
        const m = /^produce: .*$/m.exec(stderr);
        if (m) resolve({ line: m[0], running: child.exitCode === null });
      });
      void done.then((r) => reject(new Error(`produce ended with no progress line (${r.code}): ${stderr}`)));
    });
    expect(firstLine.running).toBe(true);
    expect(firstLine.line).toMatch(/^produce: \d+% {2}sent [\d,]+ {2}acked [\d,]+ {2}[\d,]+ ev\/s {2}ETA /);
    const r = await done;
    expect(r.code, r.stderr).toBe(0);
    // A pipe gets whole lines: nothing is redrawn in place.
    expect(stderr).not.toContain('\r');
    expect(r.stdout).toMatch(/^run \S+: sent [\d,]+, acked/m);
  }, 60_000);
});
