/**
 * `npm run chaos`: every built-in chaos scenario in full, on a fresh embedded deployment of the
 * default shape (3+3 cluster, the default pipeline), then the resilience table. The deployment is
 * started in a temporary state folder and stopped at the end, whatever happened.
 *
 *   npm run chaos [-- --port 21000] [--html DIR] [--scenario NAME] [--fault-proxy]
 *
 * Without --fault-proxy the network scenarios (slow-primary, client-blackhole) are skipped.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { cliEntry } from '../src/embedded/cli-entry.js';
import { withDeployment } from './deployment.js';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string' },
      html: { type: 'string' },
      scenario: { type: 'string' },
      'fault-proxy': { type: 'boolean' },
    },
  });
  const htmlDir = values.html ? resolve(values.html) : mkdtempSync(join(tmpdir(), 'streamctl-chaos-reports-'));
  const code = await withDeployment(
    Number(values.port ?? 21_000),
    async (_urls, home) => {
      const r = spawnSync(
        process.execPath,
        [
          cliEntry(),
          'chaos',
          'run',
          '--scenario',
          values.scenario ?? 'all',
          '--home',
          home,
          '--html',
          join(htmlDir, 'chaos.html'),
          '--json',
          join(htmlDir, 'chaos.json'),
        ],
        { stdio: 'inherit' },
      );
      return r.status ?? 1;
    },
    values['fault-proxy'] ? ['--fault-proxy'] : [],
  );
  console.log(`reports (HTML per scenario, and JSON) in ${htmlDir}`);
  process.exitCode = code;
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
