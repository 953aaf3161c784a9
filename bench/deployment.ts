import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deploymentUrls, type Deployment } from '../src/embedded/deployment.js';
import { cliJson } from './cli-json.js';

/**
 * Runs `work` against a fresh embedded 3+3 cluster (`up --detach`, with the default pipeline's
 * workers; `upArgs` adds to `up`'s flags) in a temporary state folder, then stops it with `down` and
 * removes the folder.
 */
export async function withDeployment<T>(
  port: number,
  work: (urls: string, home: string) => Promise<T>,
  upArgs: string[] = [],
): Promise<T> {
  const home = mkdtempSync(join(tmpdir(), 'streamctl-bench-'));
  try {
    const d = cliJson<Deployment>(['up', '--detach', '--json', '--home', home, '--port', String(port), ...upArgs]);
    return await work(deploymentUrls(d).join(','), home);
  } finally {
    cliJson<unknown>(['down', '--home', home, '--json']);
    rmSync(home, { recursive: true, force: true });
  }
}
